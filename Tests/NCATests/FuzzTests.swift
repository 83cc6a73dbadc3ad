import Foundation
import Testing

@testable import NCA

/// Damaged files must give a readable error, never a trap: random byte flips, truncations and
/// insertions of valid `.npy`, `.safetensors` (model and checkpoint) and PNG files.
@Suite("Fuzzed readers")
struct FuzzTests {
    /// Variants of `data`: truncated at random lengths, random bytes overwritten, bytes inserted.
    func mutations(of data: Data, count: Int, seed: UInt64) -> [Data] {
        var rng = RandomGenerator(seed: seed)
        var out: [Data] = [Data(), data.prefix(1), data.prefix(8)]
        let bytes = [UInt8](data)
        for k in 0..<count {
            var b = bytes
            switch k % 3 {
            case 0: b = Array(b.prefix(rng.nextIndex(below: b.count)))
            case 1:
                for _ in 0..<(1 + rng.nextIndex(below: 4)) { b[rng.nextIndex(below: b.count)] = UInt8(rng.nextIndex(below: 256)) }
            default:
                // Mostly in the header, where the structure lives.
                let at = rng.nextIndex(below: min(b.count, 200))
                b.insert(contentsOf: (0..<(1 + rng.nextIndex(below: 8))).map { _ in UInt8(rng.nextIndex(below: 256)) }, at: at)
            }
            out.append(Data(b))
        }
        return out
    }

    @Test func npyReaderNeverTraps() throws {
        let good = NPY.encode(ArrayFile(shape: [2, 3, 3, 2], dtype: .float32, values: (0..<36).map(Double.init)))
        var refused = 0
        for variant in mutations(of: good, count: 1500, seed: 1) {
            do { _ = try NPY.decode(variant) } catch { refused += 1 }
        }
        #expect(refused > 1000)
    }

    @Test func safetensorsAndModelReadersNeverTrap() throws {
        let cfg = ModelConfiguration(channels: 3, observableChannels: 1, kernels: [.identity, .gradX], hiddenSize: 4)
        let model = ModelFile.encode(NCAModel<Float>(configuration: cfg, seed: 2)).encode()
        var refused = 0
        for variant in mutations(of: model, count: 1500, seed: 2) {
            do {
                let file = try Safetensors.decode(variant)
                let _: NCAModel<Float> = try ModelFile.decode(file, path: "<fuzz>")
            } catch { refused += 1 }
        }
        #expect(refused > 1000)
    }

    @Test func checkpointReaderNeverTraps() throws {
        var cfg = TrainingConfiguration(
            model: ModelConfiguration(channels: 3, observableChannels: 2, kernels: [.identity], hiddenSize: 4))
        cfg.timeSampling = 1
        let data: Tensor<Float> = randomTensor([2, 1, 4, 4, 2], seed: 3)
        let state = Trainer(configuration: cfg, data: data).state
        let bytes = Checkpoint.encode(state, elapsedSeconds: 1).encode()
        for variant in mutations(of: bytes, count: 600, seed: 3) {
            // Any change is caught: by the format checks or by the checksum.
            #expect(throws: (any Error).self) { try Checkpoint.decode(Safetensors.decode(variant), path: "<fuzz>") }
        }
    }

    @Test func pngReaderNeverTraps() throws {
        var image = RGBImage(width: 7, height: 5)
        for y in 0..<5 { for x in 0..<7 { image[x, y] = (UInt8(x * 30), UInt8(y * 50), 90) } }
        let good = try PNG.encode(image)
        var refused = 0
        for variant in mutations(of: good, count: 600, seed: 4) {
            do { _ = try PNG.decode(variant) } catch { refused += 1 }
        }
        #expect(refused > 300)
    }
}

/// Every committed fuzz input (the seed corpus and every input that once crashed a reader, in
/// `Tests/Fuzz/corpus/TARGET` and `Tests/Fuzz/crashes/TARGET`) goes through its reader again:
/// it must return or throw.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz").path

    static func inputs(_ target: String) -> [String] {
        ["corpus", "crashes"].flatMap { kind -> [String] in
            let folder = "\(root)/\(kind)/\(target)"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(folder)/\($0)" }
        }
    }

    @Test(arguments: ["npy", "safetensors", "png", "checkpoint"])
    func committedInputsStillReadOrFail(target: String) throws {
        let files = Self.inputs(target)
        #expect(!files.isEmpty, "no seed corpus for \(target)")
        var accepted = 0
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            switch target {
            case "npy": if (try? NPY.decode(data)) != nil { accepted += 1 }
            case "safetensors":
                if let decoded = try? Safetensors.decode(data),
                    (try? ModelFile.decode(decoded, path: file) as NCAModel<Float>) != nil
                {
                    accepted += 1
                }
            case "png": if (try? PNG.decode(data)) != nil { accepted += 1 }
            default:
                if var decoded = try? Safetensors.decode(data) {
                    decoded.metadata["checksum"] = Checkpoint.checksum(decoded)
                    if (try? Checkpoint.decode(decoded, path: file)) != nil { accepted += 1 }
                }
            }
        }
        // The seed corpus itself is valid; crash inputs may be refused.
        #expect(accepted >= 1, "\(target): none of \(files.count) inputs was accepted")
    }
}
