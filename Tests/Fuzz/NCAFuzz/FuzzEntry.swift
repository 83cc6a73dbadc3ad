import Foundation
import NCA

/// One input for the fuzz target named by NCA_FUZZ_TARGET (npy, safetensors, png, checkpoint):
/// the reader must return or throw, never trap, hang or allocate without bound.
///
/// The checkpoint target re-stamps the checksum of a parsed file first, so that the fuzzer
/// explores the loader behind the checksum rather than only the checksum test.
func fuzzOne(_ data: Data, target: String) {
    switch target {
    case "npy":
        _ = try? NPY.decode(data)
    case "safetensors":
        if let file = try? Safetensors.decode(data) {
            let _: NCAModel<Float>? = try? ModelFile.decode(file, path: "<fuzz>")
            let _: NCAModel<Double>? = try? ModelFile.decode(file, path: "<fuzz>")
        }
    case "png":
        _ = try? PNG.decode(data)
    case "checkpoint":
        if var file = try? Safetensors.decode(data) {
            file.metadata["checksum"] = Checkpoint.checksum(file)
            _ = try? Checkpoint.decode(file, path: "<fuzz>")
        }
    default:
        FileHandle.standardError.write(Data("NCA_FUZZ_TARGET must be npy, safetensors, png or checkpoint\n".utf8))
        exit(64)
    }
}

let fuzzTarget = ProcessInfo.processInfo.environment["NCA_FUZZ_TARGET"] ?? ""

#if NCA_FUZZING
    /// libFuzzer's entry point (built by scripts/fuzz.sh with -sanitize=fuzzer).
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        fuzzOne(count > 0 ? Data(bytes: bytes!, count: count) : Data(), target: fuzzTarget)
        return 0
    }

    typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: FuzzCallback
    ) -> Int32

    /// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer.
    @_cdecl("NCAFuzz_main")
    public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var count = argc
        var arguments = argv
        return withUnsafeMutablePointer(to: &count) { c in
            withUnsafeMutablePointer(to: &arguments) { a in runFuzzerDriver(c, a, fuzzerTestOneInput) }
        }
    }
#else
    /// Without libFuzzer: replays the files named on the command line (a corpus or crashing
    /// inputs) through the same target, for regression runs.
    @main
    struct Replay {
        static func main() {
            var count = 0
            for path in CommandLine.arguments.dropFirst() {
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { continue }
                let files =
                    isFolder.boolValue
                    ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                    : [path]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    fuzzOne(data, target: fuzzTarget)
                    count += 1
                }
            }
            print("replayed \(count) inputs through \(fuzzTarget)")
        }
    }
#endif
