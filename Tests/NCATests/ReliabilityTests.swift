import Foundation
import Testing

@testable import NCA

/// Bad input and failing disks, driven through the real `nca` binary: one line on standard
/// error naming the problem and the fix, the right exit status, nothing half-written.
@Suite("Reliability through the binary", .serialized)
struct ReliabilityTests {
    let binary = BinaryTests()

    static func bad(_ name: String) -> String { fixture("bad/" + name) }

    /// (arguments, exit status, text the message must contain); `OUT` is replaced by a fresh
    /// output path that must not exist afterwards.
    static let cases: [([String], Int32, String)] = {
        let model = fixture("analysis_model.safetensors")
        let good = bad("good.npy")
        func step(state: String, model m: String = model) -> [String] {
            ["step", "--model", m, "--state", state, "--steps", "1", "--out", "OUT"]
        }
        return [
            // Files that are missing or not files.
            (step(state: "/nonexistent/x.npy"), 65, "no such file"),
            (step(state: NSTemporaryDirectory()), 65, "is a folder"),
            // .npy
            (step(state: bad("not_numpy.npy")), 65, "wrong magic"),
            (step(state: bad("int64.npy")), 65, "unsupported dtype '<i8'"),
            (step(state: bad("fortran.npy")), 65, "Fortran-order"),
            (step(state: bad("bigendian.npy")), 65, "big-endian"),
            (step(state: bad("truncated.npy")), 65, "truncated"),
            (step(state: bad("huge.npy")), 65, "too large"),
            (step(state: bad("rank2.npy")), 65, "R × S × S × C"),
            // .safetensors
            (step(state: good, model: bad("invalid_json.safetensors")), 65, "not valid JSON"),
            (step(state: good, model: bad("offsets.safetensors")), 65, "lie beyond"),
            (step(state: good, model: bad("missing_tensor.safetensors")), 65, "lacks tensor 'v'"),
            (step(state: good, model: bad("inconsistent.safetensors")), 65, "metadata implies"),
            (step(state: good, model: bad("header_length.safetensors")), 65, "bad header length"),
            (step(state: good, model: bad("good.npy")), 65, "bad header length"),
            // Data that does not fit the model, or is not finite.
            (["train", "--data", bad("nan.npy"), "--channels", "2", "--observable", "2", "--out", "OUT"], 65, "contains nan"),
            (["train", "--data", bad("nan.npy"), "--channels", "4", "--observable", "3", "--out", "OUT"], 65, "--observable"),
            (["evaluate", "--model", model, "--data", bad("nan.npy"), "--json", "OUT"], 65, "contains nan"),
            // Options out of range.
            (["init", "--channels", "1", "--observable", "2", "--out", "OUT"], 64, "observable"),
            (["init", "--kernels", "identity,sobel", "--out", "OUT"], 64, "unknown kernel 'sobel'"),
            (["init", "--activation", "softmax", "--out", "OUT"], 64, "softmax"),
            (["init", "--boundary", "mirror", "--out", "OUT"], 64, "mirror"),
            (["init", "--channels", "4096", "--hidden", "65536", "--out", "OUT"], 64, "parameters"),
            (
                [
                    "rollout", "--model", model, "--init", "gray-scott-random", "--size", "4096", "--batches", "4096", "--steps",
                    "1", "--out", "OUT",
                ],
                64, "too many values"
            ),
            (
                ["rollout", "--model", model, "--init", good, "--steps", "100000000", "--every", "10000", "--out", "OUT"], 64,
                "frames"
            ),
            (["init", "--skip-probability", "1", "--out", "OUT"], 64, "[0, 1)"),
            (["init", "--skip-probability", "-0.1", "--out", "OUT"], 64, "[0, 1)"),
            (["data", "gray-scott", "--size", "2", "--out", "OUT"], 64, "--size"),
            (["data", "gray-scott", "--time-sampling", "0", "--out", "OUT"], 64, "--time-sampling"),
            (["train", "--preset", "gray-scott", "--time-sampling", "0", "--out", "OUT"], 64, "time-sampling"),
            (["step", "--model", model, "--state", good, "--steps", "-1", "--out", "OUT"], 64, "--steps"),
            (["rollout", "--model", model, "--init", good, "--steps", "10", "--every", "0", "--out", "OUT"], 64, "--every"),
            // PNG
            (["data", "images", bad("corrupt.png"), "--out", "OUT"], 65, "corrupt PNG data"),
            (["data", "images", bad("good.npy"), "--out", "OUT"], 65, "not a readable PNG"),
            (["data", "images", "/nonexistent/a.png", "--out", "OUT"], 65, "no such file"),
            (["data", "images", "--out", "OUT"], 64, "--builtin"),
            (["train", "--preset", "morph", "--observable", "2", "--out", "OUT"], 64, "--observable 4"),
            // Writing where one cannot.
            (["init", "--out", "/nonexistent-folder/m.safetensors"], 64, "does not exist"),
        ]
    }()

    @Test func everyBadInputGetsOneLineAndNoOutput() throws {
        let dir = temporaryFolder()
        // The good state really is good for the model the table uses.
        let ok = try binary.nca([
            "step", "--model", fixture("analysis_model.safetensors"), "--state", Self.bad("good.npy"), "--steps", "1", "--out",
            dir + "/ok.npy",
        ])
        #expect(ok.status == 0, "\(ok.error)")
        for (index, (template, status, message)) in Self.cases.enumerated() {
            let out = "\(dir)/out\(index)"
            let arguments = template.map { $0 == "OUT" ? out : $0 }
            let r = try binary.nca(arguments)
            #expect(r.status == status, "\(arguments): status \(r.status), \(r.error)")
            #expect(r.error.contains(message), "\(arguments): \(r.error)")
            let lines = r.error.split(separator: "\n").filter {
                !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See") && !$0.hasPrefix("Help:") && !$0.isEmpty
            }
            #expect(lines.count == 1, "\(arguments): \(r.error)")
            #expect(!r.error.contains("Fatal error") && !r.error.contains("Stack dump"), "\(arguments)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(arguments) left \(out)")
        }
        // No temporary files were left behind anywhere in the folder.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    /// Starts `nca train` and interrupts it once `metrics.csv` has more than `lines` lines.
    func trainAndInterrupt(_ arguments: [String], metrics: String, lines: Int, limit: String? = nil) throws -> (Int32, String) {
        let process = Process()
        if let limit {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", "ulimit -f \(limit); exec \"$0\" \"$@\"", BinaryTests.binary.path] + arguments
        } else {
            process.executableURL = BinaryTests.binary
            process.arguments = arguments
        }
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            if let text = try? String(contentsOfFile: metrics, encoding: .utf8), text.split(separator: "\n").count > lines {
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        if process.isRunning { process.interrupt() }
        let stopBy = Date().addingTimeInterval(60)
        while process.isRunning && Date() < stopBy { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, error)
    }

    @Test func fullDiskKeepsTheLastCheckpointAndResumes() throws {
        let dir = temporaryFolder()
        let r = try binary.nca([
            "data", "gray-scott", "--size", "12", "--steps", "16", "--time-sampling", "4", "--batches", "2", "--out",
            dir + "/gs.npy",
        ])
        #expect(r.status == 0, "\(r.error)")
        let run = dir + "/run"
        let metrics = run + "/metrics.csv"
        let train = [
            "train", "--data", dir + "/gs.npy", "--time-sampling", "4", "--epochs", "100000", "--checkpoint-every", "1", "--out",
            run,
        ]
        let (first, firstError) = try trainAndInterrupt(train, metrics: metrics, lines: 3)
        #expect(first == 130, "\(firstError)")
        let checkpoint = run + "/checkpoint.safetensors"
        let saved = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        #expect(saved.count > 16 * 1024)  // larger than the limit below

        // Resume with a file-size limit of 16 KiB: metrics and models fit, the checkpoint does not.
        let (limited, message) = try trainAndInterrupt(
            ["train", "--resume", run], metrics: metrics, lines: 1_000_000, limit: "16")
        #expect(limited == 1, "\(message)")
        #expect(message.contains("file-size limit") && message.contains("nca train --resume"), "\(message)")
        #expect(message.split(separator: "\n").count == 1, "\(message)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint)) == saved, "the checkpoint changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).allSatisfy { !$0.contains(".tmp-") })

        // With room again, the run continues from that checkpoint.
        let epochs = try Checkpoint.read(checkpoint).state.epoch
        let (resumed, resumedError) = try trainAndInterrupt(["train", "--resume", run], metrics: metrics, lines: epochs + 3)
        #expect(resumed == 130, "\(resumedError)")
        #expect(try Checkpoint.read(checkpoint).state.epoch > epochs)
    }

    @Test func unwritableFolderIsAClearError() throws {
        // Root may write anywhere with ordinary permissions; sysfs is read-only even for root.
        let folder: String
        if geteuid() != 0 {
            folder = temporaryFolder()
            chmod(folder, 0o555)
        } else if FileManager.default.fileExists(atPath: "/sys"),
            !FileManager.default.createFile(atPath: "/sys/.nca-probe", contents: nil)
        {
            folder = "/sys"
        } else {
            return  // no unwritable folder to try on this machine
        }
        let r = try binary.nca(["init", "--out", folder + "/m.safetensors"])
        #expect(r.status == 1, "\(r.error)")
        #expect(r.error.contains("cannot create a file") && r.error.contains("not writable"), "\(r.error)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/m.safetensors"))
    }
}
