import ArgumentParser
import Foundation
import Testing

@testable import NCA
@testable import NCATool

@Suite("Command line")
struct CLITests {
    @Test func parsesModelOptions() throws {
        let command = try NCACommand.parseAsRoot([
            "init", "--channels", "6", "--observable", "3", "--kernels", "identity,grad-x,laplacian", "--activation", "swish",
            "--boundary", "reflect", "--skip-probability", "0.5", "--mask", "element", "--seed", "7", "--out", "m.safetensors",
        ])
        let initCommand = try #require(command as? InitCommand)
        let cfg = try initCommand.model.configuration()
        #expect(
            cfg
                == ModelConfiguration(
                    channels: 6, observableChannels: 3, kernels: [.identity, .gradX, .laplacian], activation: .swish,
                    hiddenSize: 24,
                    boundary: .reflect, skipProbability: 0.5, mask: .element))
        #expect(initCommand.seed == 7)
    }

    static let usageErrors: [[String]] = [
        ["init", "--channels", "2", "--observable", "3", "--out", "m"],
        ["init", "--kernels", "identity,sobel", "--out", "m"],
        ["init", "--skip-probability", "1", "--out", "m"],
        ["init", "--activation", "softmax", "--out", "m"],
        ["init", "--hidden", "0", "--out", "m"],
        ["step", "--model", "m", "--state", "x", "--steps", "-1", "--out", "y"],
        ["grad", "--model", "m", "--state", "x", "--target", "y", "--steps", "0", "--out", "d"],
        ["grad", "--model", "m", "--state", "x", "--target", "y", "--steps", "3", "--loss", "l1", "--out", "d"],
        ["init"],
        ["train", "--epochs", "5", "--out", "r"],
        ["step", "--model", "m", "--steps", "1", "--out", "o.npy"],
        ["grad", "--model", "m", "--target", "t.npy", "--steps", "1", "--out", "g"],
        ["train", "--preset", "gray-scott", "--data", "t.npy"],
        ["train", "--preset", "gray-scott", "--lr", "-1"],
        ["train", "--resume", "r", "--preset", "gray-scott"],
        ["rollout", "--model", "m", "--init", "x", "--steps", "10", "--every", "0", "--out", "o"],
        ["data", "gray-scott", "--steps", "100", "--time-sampling", "32", "--out", "t.npy"],
        ["data", "gray-scott", "--noise", "2", "--out", "t.npy"],
        ["bench", "--repeats", "0"],
        ["bench", "--size", "2"],
        ["train", "--preset", "gray-scott", "--max-loss", "-1"],
        ["train", "--preset", "gray-scott", "--on-divergence", "retry"],
        ["train", "--preset", "gray-scott", "--weight-init", "uniform"],
        ["train", "--preset", "gray-scott", "--weight-scale", "-0.1"],
        ["train", "--preset", "gray-scott", "--range-penalty", "-1"],
        ["train", "--preset", "gray-scott", "--range-penalty", "nan"],
        ["train", "--preset", "gray-scott", "--validate-every", "0"],
        ["train", "--preset", "morph", "--pool", "-1"],
        ["train", "--preset", "morph", "--pool", "4", "--pool-reach", "0"],
        ["train", "--preset", "morph", "--pool", "4", "--pool-damage", "1.5"],
        ["train", "--preset", "morph", "--pool", "0", "--pool-damage", "0.5"],
        ["train", "--preset", "gray-scott", "--select-by", "test-loss"],
        ["init", "--weight-init", "normal", "--weight-scale", "0", "--out", "m"],
        ["grad", "--model", "m", "--state", "x", "--target", "y", "--steps", "3", "--range-penalty", "-0.5", "--out", "d"],
        ["data", "gray-scott", "--init", "paper", "--batches", "0", "--out", "t.npy"],
        ["analyse", "--model", "m", "--time-sampling", "0"],
        ["analyse", "--model", "m", "--about", "1", "--state", "x.npy"],
        ["analyse", "--model", "m", "--size", "0"],
        ["perturb", "local", "--model", "m", "--init", "x", "--steps", "0", "--out", "o"],
        ["perturb", "local", "--model", "m", "--init", "x", "--steps", "3", "--stride", "0", "--out", "o"],
        ["perturb", "adversarial", "--model", "m", "--init", "x", "--steps", "3", "--mode", "break", "--out", "o"],
        [
            "perturb", "adversarial", "--model", "m", "--init", "x", "--steps", "3", "--mode", "destroy", "--lr", "0", "--out",
            "o",
        ],
        ["perturb", "symmetry", "--model", "m", "--init", "x", "--steps", "3", "--transforms", "rotate-30", "--out", "o"],
    ]

    @Test("bad options are usage errors (exit 64)", arguments: usageErrors)
    func usageErrorsExit64(arguments: [String]) {
        do {
            _ = try NCACommand.parseAsRoot(arguments)
            Issue.record("accepted \(arguments)")
        } catch {
            #expect(NCACommand.exitCode(for: error).rawValue == 64, "\(arguments)")
            #expect(!NCACommand.message(for: error).isEmpty)
        }
    }
}

/// Runs the built `nca` executable.
@Suite("nca binary", .serialized)
struct BinaryTests {
    static var binary: URL {
        // The test bundle sits next to the products of the same build.
        let folder = Bundle.main.bundleURL
        for candidate in [folder, folder.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("nca")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return folder.appendingPathComponent("nca")
    }

    @discardableResult
    func nca(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String)
    {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    @Test("under mpirun a usage error is printed by rank 0 only; every rank exits 64")
    func usageErrorOncePerJob() throws {
        for (rank, printed) in [("0", true), ("1", false), ("3", false)] {
            let r = try nca(
                ["train", "--epochs", "-2"], environment: ["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": rank])
            #expect(r.status == 64, "rank \(rank): \(r.error)")
            #expect(r.error.contains("epochs") == printed && r.output.isEmpty, "rank \(rank): \(r.error)")
        }
        let r = try nca(["train", "--epochs", "-2"])
        #expect(r.status == 64 && r.error.contains("epochs"), "\(r.error)")
    }

    @Test("the dense layers' kernels: NCA_KERNELS choices give the same step, a typo is a one-line error")
    func kernelChoiceFromTheEnvironment() throws {
        let dir = temporaryFolder()
        try nca(["init", "--channels", "4", "--observable", "2", "--seed", "3", "--out", dir + "/m.safetensors"])
        try NPY.write(Tensor<Float>(shape: [2, 6, 6, 4], scalars: (0..<288).map { Float($0 % 17) / 17 }), to: dir + "/x.npy")
        var outputs: [Tensor<Float>] = []
        for choice in ["blas", "avx2", "avx512", "libxsmm"] {
            let run = try nca(
                [
                    "step", "--model", dir + "/m.safetensors", "--state", dir + "/x.npy", "--steps", "3", "--out",
                    dir + "/\(choice).npy",
                ],
                environment: ["NCA_KERNELS": choice])
            #expect(run.status == 0, "\(choice): \(run.error)")
            outputs.append(try NPY.read(dir + "/\(choice).npy").tensor(as: Float.self))
        }
        for other in outputs.dropFirst() { #expect(maxAbsDifference(other.scalars, outputs[0].scalars) < 1e-5) }
        let typo = try nca(["--version"], environment: ["NCA_KERNELS": "fastest"])
        #expect(typo.status == 64)
        #expect(typo.error.contains("NCA_KERNELS=fastest") && typo.error.split(separator: "\n").count == 1)
    }

    @Test func endToEndInitStepGrad() throws {
        let dir = temporaryFolder()
        let version = try nca(["--version"])
        #expect(version.status == 0 && version.output.contains(NCACommand.version))
        let help = try nca(["--help"])
        #expect(help.status == 0 && help.output.contains("grad") && help.output.contains("step"))

        var r = try nca([
            "init", "--channels", "4", "--observable", "2", "--activation", "tanh", "--seed", "3", "--out",
            dir + "/m.safetensors",
        ])
        #expect(r.status == 0, "\(r.error)")
        // Give W1 and v values so the rollout moves; write it back as the model.
        var model: NCAModel<Float> = try ModelFile.read(dir + "/m.safetensors")
        #expect(model == NCAModel<Float>(configuration: model.configuration, seed: 3))
        model = randomModel(model.configuration, seed: 5, scale: 0.2)
        try ModelFile.write(model, to: dir + "/m.safetensors")
        let x0: Tensor<Float> = randomTensor([2, 6, 6, 4], seed: 6)
        try NPY.write(x0, to: dir + "/x0.npy")
        r = try nca([
            "step", "--model", dir + "/m.safetensors", "--state", dir + "/x0.npy", "--steps", "5", "--out", dir + "/x5.npy",
        ])
        #expect(r.status == 0, "\(r.error)")
        let x5 = try NPY.read(dir + "/x5.npy").tensor(as: Float.self)
        var expected = x0
        var rng = RandomGenerator(seed: 0)
        NCAEngine<Float>(configuration: model.configuration, batch: 2, size: 6).run(model, state: &expected, steps: 5, rng: &rng)
        // The binary may run other OpenBLAS kernels than this process (it picks faster ones for
        // the CPU), so results agree to rounding, not bit for bit.
        #expect(maxAbsDifference(x5.scalars, expected.scalars) < 1e-5)

        let target: Tensor<Float> = randomTensor([2, 6, 6, 2], seed: 7)
        try NPY.write(target, to: dir + "/y.npy")
        r = try nca([
            "grad", "--model", dir + "/m.safetensors", "--state", dir + "/x0.npy", "--target", dir + "/y.npy", "--steps", "4",
            "--precision", "float64", "--out", dir + "/g",
        ])
        #expect(r.status == 0, "\(r.error)")
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/g/loss.json"))) as? [String: Any]
        let loss = try #require(json?["loss"] as? Double)
        let doubleModel = NCAModel<Double>(converting: model)
        let engine = NCAEngine<Double>(configuration: model.configuration, batch: 2, size: 6)
        var rng2 = RandomGenerator(seed: 0)
        let prediction = engine.forward(doubleModel, from: Tensor(converting: x0), steps: 4, rng: &rng2)
        let (expectedLoss, dPrediction) = LossFunction.euclidean.evaluate(
            prediction: prediction, target: Tensor(converting: target), observableChannels: 2)
        #expect(abs(loss - expectedLoss) < 1e-12)
        let gradients = engine.backward(doubleModel, outputGradient: dPrediction)
        for (file, expected) in [
            ("dW2", gradients.w2), ("dW1", gradients.w1), ("dv", gradients.v), ("dx0", gradients.initialState),
        ] {
            let written = try NPY.read(dir + "/g/\(file).npy")
            #expect(written.shape == expected.shape && written.dtype == .float64)
            #expect(relativeError(written.values, expected.scalars) < 1e-12, "\(file)")
        }
    }

    @Test func trainRolloutEvaluateEndToEnd() throws {
        let dir = temporaryFolder()
        var r = try nca([
            "data", "gray-scott", "--size", "12", "--steps", "8", "--time-sampling", "4", "--batches", "2", "--out",
            dir + "/gs.npy",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(try NPY.read(dir + "/gs.npy").shape == [3, 2, 12, 12, 2])
        // The authors' states: four training entries and one test entry unless told otherwise.
        r = try nca([
            "data", "gray-scott", "--init", "paper", "--size", "16", "--steps", "4", "--time-sampling", "4", "--out",
            dir + "/p.npy",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(try NPY.read(dir + "/p.npy").shape == [2, 4, 16, 16, 2])
        r = try nca([
            "data", "gray-scott", "--init", "paper-test", "--size", "16", "--steps", "4", "--time-sampling", "4", "--out",
            dir + "/pt.npy",
        ])
        #expect(r.status == 0, "\(r.error)")
        let paperTest = try NPY.read(dir + "/pt.npy")
        #expect(paperTest.shape == [2, 1, 16, 16, 2] && paperTest.values[2 * (4 * 16 + 4) + 1] == 1)
        r = try nca([
            "train", "--data", dir + "/gs.npy", "--test-data", dir + "/gs.npy", "--channels", "4", "--hidden", "6",
            "--time-sampling", "4",
            "--epochs", "3", "--minibatch-size", "2", "--out", dir + "/run",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("test loss") && r.output.contains("report.html"))
        for file in [
            "config.json", "metrics.csv", "model.safetensors", "best.safetensors", "checkpoint.safetensors", "report.html",
            "data.npy", "test.npy",
        ] {
            #expect(FileManager.default.fileExists(atPath: dir + "/run/" + file), "\(file)")
        }
        let metrics = try String(contentsOfFile: dir + "/run/metrics.csv", encoding: .utf8).split(separator: "\n")
        #expect(
            metrics.count == 4 && metrics[0] == "epoch,loss,gradient_norm,learning_rate,wall_time_s,range_penalty,validation_loss"
        )
        // Rollout selection (the default): the last epoch is validated and picks best.safetensors.
        #expect(metrics[3].split(separator: ",", omittingEmptySubsequences: false).last.map { Double($0) != nil } == true)
        #expect(r.output.contains("best model: epoch 3, chosen by the lowest validation loss"))
        let config = try JSONDecoder().decode(
            RunConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/run/config.json")))
        #expect(config.training.epochs == 3 && config.training.model.channels == 4 && config.dataShape == [3, 2, 12, 12, 2])
        // Resuming a finished run is a no-op that still succeeds; training into it again is refused.
        r = try nca(["train", "--resume", dir + "/run"])
        #expect(r.status == 0, "\(r.error)")
        // Model options with --resume: the run's own values are accepted, others refused naming both.
        r = try nca(["train", "--resume", dir + "/run", "--channels", "4", "--hidden", "6"])
        #expect(r.status == 0, "\(r.error)")
        r = try nca(["train", "--resume", dir + "/run", "--hidden", "7"])
        #expect(r.status == 64 && r.error.contains("--hidden 7 differs from the run's --hidden 6"), "\(r.error)")
        r = try nca(["train", "--resume", dir + "/run", "--kernels", "identity,laplacian,average"])
        #expect(r.status == 64 && r.error.contains("--kernels"), "\(r.error)")
        r = try nca(["train", "--data", dir + "/gs.npy", "--out", dir + "/run"])
        #expect(r.status == 64 && r.error.contains("--resume"))

        r = try nca([
            "rollout", "--model", dir + "/run/model.safetensors", "--init", dir + "/gs.npy", "--frame", "0", "--steps", "8",
            "--every", "4", "--out", dir + "/roll",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(try NPY.read(dir + "/roll/trajectory.npy").shape == [3, 2, 12, 12, 4])
        for file in [
            "frames/step_000000.png", "frames/step_000004.png", "frames/step_000008.png", "contact_sheet.png", "rollout.gif",
        ] {
            #expect(FileManager.default.fileExists(atPath: dir + "/roll/" + file), "\(file)")
        }
        _ = try PNG.read(dir + "/roll/contact_sheet.png")
        r = try nca([
            "rollout", "--model", dir + "/run/model.safetensors", "--init", "gray-scott-unseen", "--size", "16", "--steps", "4",
            "--every", "2", "--out", dir + "/roll2",
        ])
        #expect(r.status == 0, "\(r.error)")

        r = try nca([
            "evaluate", "--model", dir + "/run/model.safetensors", "--data", dir + "/gs.npy", "--time-sampling", "4", "--json",
            dir + "/eval.json",
        ])
        #expect(r.status == 0 && r.output.contains("test loss"), "\(r.error)")
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/eval.json"))) as? [String: Any]
        #expect((json?["snapshot_losses"] as? [Any])?.count == 2)
        #expect(json?["beyond"] == nil)

        // --beyond 3: every 4 steps from the horizon (8) to 24, against the last frame; the
        // identity model keeps its state, so its loss there never changes.
        r = try nca(["init", "--channels", "4", "--hidden", "6", "--out", dir + "/identity.safetensors"])
        #expect(r.status == 0, "\(r.error)")
        for model in ["run/model", "identity"] {
            r = try nca([
                "evaluate", "--model", dir + "/\(model).safetensors", "--data", dir + "/gs.npy", "--time-sampling", "4",
                "--beyond", "3",
                "--json", dir + "/beyond.json",
            ])
            #expect(r.status == 0 && r.output.contains("beyond the horizon (step 8) to step 24"), "\(r.output) \(r.error)")
            let beyond =
                try
                (JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/beyond.json")))
                as? [String: Any])?["beyond"] as? [String: Any]
            #expect((beyond?["steps"] as? [Int]) == [12, 16, 20, 24])
            let losses = beyond?["losses"] as? [Double] ?? []
            #expect(losses.count == 4 && (beyond?["worst_loss"] as? Double) == losses.max())
            if model == "identity" {
                #expect(Set(losses).count == 1 && (beyond?["loss_at_horizon"] as? Double) == losses[0])
            }
        }
        r = try nca(["evaluate", "--model", dir + "/identity.safetensors", "--data", dir + "/gs.npy", "--beyond", "0"])
        #expect(r.status == 64)
    }

    @Test func interruptWritesACheckpointAndResumeFinishes() throws {
        let dir = temporaryFolder()
        var r = try nca([
            "data", "gray-scott", "--size", "12", "--steps", "16", "--time-sampling", "4", "--batches", "2", "--out",
            dir + "/gs.npy",
        ])
        #expect(r.status == 0, "\(r.error)")
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = [
            "train", "--data", dir + "/gs.npy", "--time-sampling", "4", "--epochs", "100000", "--checkpoint-every", "1000",
            "--out", dir + "/run",
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        // Wait until a few epochs are on disk, then interrupt.
        let metrics = dir + "/run/metrics.csv"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: metrics, encoding: .utf8), text.split(separator: "\n").count > 3 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()
        // The current epoch finishes, then the checkpoint; never wait forever.
        let stopBy = Date().addingTimeInterval(60)
        while process.isRunning && Date() < stopBy { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("nca train did not stop within 60 s of SIGINT")
        }
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(output.contains("nca train --resume"))
        let (state, _) = try Checkpoint.read(dir + "/run/checkpoint.safetensors")
        let rows = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n").count - 1
        #expect(state.epoch >= 3 && state.epoch == rows, "checkpoint at epoch \(state.epoch), \(rows) metrics rows")
        r = try nca(["train", "--resume", dir + "/run", "--epochs", "5"])
        #expect(r.status == 64, "changing --epochs on resume is refused: \(r.error)")
    }

    @Test func badInputIsOneLineAndNonZero() throws {
        let dir = temporaryFolder()
        try nca(["init", "--channels", "4", "--observable", "2", "--out", dir + "/m.safetensors"])
        try Data("not a numpy file".utf8).write(to: URL(fileURLWithPath: dir + "/junk.npy"))
        try NPY.write(Tensor<Float>(zeros: [5, 5, 3]), to: dir + "/wrong.npy")
        let cases: [([String], Int32, String)] = [
            (
                [
                    "step", "--model", dir + "/none.safetensors", "--state", dir + "/junk.npy", "--steps", "1", "--out",
                    dir + "/o.npy",
                ], 65, "no such file"
            ),
            (
                [
                    "step", "--model", dir + "/m.safetensors", "--state", dir + "/junk.npy", "--steps", "1", "--out",
                    dir + "/o.npy",
                ], 65, "wrong magic"
            ),
            (
                [
                    "step", "--model", dir + "/m.safetensors", "--state", dir + "/wrong.npy", "--steps", "1", "--out",
                    dir + "/o.npy",
                ], 65, "3 channels"
            ),
            (
                ["step", "--model", dir + "/junk.npy", "--state", dir + "/wrong.npy", "--steps", "1", "--out", dir + "/o.npy"],
                65, "bad header length"
            ),
            (["init", "--channels", "1", "--observable", "2", "--out", dir + "/x.safetensors"], 64, "observable"),
            (["init", "--out", dir + "/missing/folder/m.safetensors"], 64, "does not exist"),
            (["train", "--data", dir + "/wrong.npy", "--out", dir + "/r"], 65, "a trajectory is"),
            (["evaluate", "--model", dir + "/m.safetensors", "--data", dir + "/junk.npy"], 65, "wrong magic"),
            (
                [
                    "rollout", "--model", dir + "/m.safetensors", "--init", dir + "/none.npy", "--steps", "1", "--out",
                    dir + "/ro",
                ], 65, "no such file"
            ),
        ]
        for (arguments, status, message) in cases {
            let r = try nca(arguments)
            #expect(r.status == status, "\(arguments): \(r.error)")
            #expect(r.error.contains(message), "\(arguments): \(r.error)")
            let lines = r.error.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See") && !$0.isEmpty }
            #expect(lines.count == 1, "\(arguments): \(r.error)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.npy"))
    }

    @Test func analyseAndPerturbEndToEnd() throws {
        let dir = temporaryFolder()
        let model = fixture("analysis_model.safetensors")
        let x0: Tensor<Float> = randomTensor([2, 8, 8, 2], seed: 6, in: 0...0.5)
        try NPY.write(x0, to: dir + "/x0.npy")
        let trajectory: Tensor<Float> = randomTensor([3, 1, 8, 8, 2], seed: 8, in: 0...0.5)
        try NPY.write(trajectory, to: dir + "/t.npy")
        var r = try nca(["analyse", "--model", model, "--data", dir + "/t.npy", "--time-sampling", "2", "--out", dir + "/an"])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("importance") && r.output.contains("pruning check"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/an/analysis.json")))
                as? [String: Any])
        let weights = try #require(json["weights"] as? [String: Any])
        #expect((weights["importance"] as? [[Double]])?.count == 4)
        #expect(json["pruning"] != nil && json["stability"] != nil)
        let html = try String(contentsOfFile: dir + "/an/analysis.html", encoding: .utf8)
        #expect(
            html.contains("<svg") && html.contains("Pruning check") && !html.contains("<script") && !html.contains("src=\"http"))

        r = try nca(["analyse", "--model", model, "--state", dir + "/x0.npy", "--amplification-steps", "2"])
        #expect(r.status == 0 && r.output.contains("most amplified perturbation"), "\(r.error)")

        r = try nca([
            "perturb", "local", "--model", model, "--init", dir + "/x0.npy", "--entry", "1", "--steps", "2", "--stride", "3",
            "--out", dir + "/lo",
        ])
        #expect(r.status == 0, "\(r.error)")
        let heat = try NPY.read(dir + "/lo/heatmap.npy")
        #expect(heat.shape == [3, 3])
        for name in ["reach.npy", "heatmap.png", "examples.png", "local.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/lo/" + name), "\(name)")
        }
        r = try nca([
            "perturb", "adversarial", "--model", model, "--init", dir + "/x0.npy", "--steps", "2", "--mode", "preserve",
            "--iterations", "5", "--out", dir + "/ad",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(try NPY.read(dir + "/ad/perturbation.npy").shape == [8, 8, 4])
        #expect(try NPY.read(dir + "/ad/perturbed.npy").shape == [5, 1, 8, 8, 4])
        r = try nca(["perturb", "symmetry", "--model", model, "--init", dir + "/x0.npy", "--steps", "2", "--out", dir + "/sy"])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("rotate-45"))
        #expect(try NPY.read(dir + "/sy/finals.npy").shape == [7, 8, 8, 4])

        // Bad input: one line, exit 65, nothing written.
        r = try nca(["perturb", "local", "--model", model, "--init", dir + "/t.npy", "--steps", "2", "--out", dir + "/bad"])
        #expect(r.status == 65 && r.error.contains("--frame"), "\(r.error)")
        r = try nca(["analyse", "--model", model, "--about", "1,2", "--out", dir + "/bad2"])
        #expect(r.status == 64 && r.error.contains("4 finite numbers"), "\(r.error)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad2"))
    }

    /// numpy and safetensors read what nca writes (needs python3 with numpy and safetensors;
    /// `.ci/run` installs them and sets NCA_PYTHON_INTEROP=1).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["NCA_PYTHON_INTEROP"] != nil))
    func numpyReadsOurFiles() throws {
        let dir = temporaryFolder()
        let cfg = ModelConfiguration(
            channels: 3, observableChannels: 1, kernels: [.identity, .gradY], activation: .sigmoid, hiddenSize: 5,
            boundary: .zero, skipProbability: 0.25)
        let model: NCAModel<Float> = randomModel(cfg, seed: 1)
        try ModelFile.write(model, to: dir + "/m.safetensors")
        let a: Tensor<Double> = randomTensor([2, 3, 3, 4], seed: 2)
        try NPY.write(a, to: dir + "/a.npy")
        let script = """
            import json, sys, numpy as np
            from safetensors.numpy import load_file
            from safetensors import safe_open
            d = sys.argv[1]
            m = load_file(d + "/m.safetensors")
            with safe_open(d + "/m.safetensors", "np") as f:
                meta = f.metadata()
            a = np.load(d + "/a.npy")
            hexes = lambda x: [float(v).hex() for v in np.asarray(x, dtype=np.float64).ravel()]
            print(json.dumps({"W2": hexes(m["W2"]), "W2shape": list(m["W2"].shape), "v": hexes(m["v"]),
                              "meta": meta, "a": hexes(a), "ashape": list(a.shape), "adtype": str(a.dtype)}))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let result = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        // Values travel as hex floats: exact, whatever the JSON parser does with decimals.
        func doubles(_ key: String) -> [Double]? { (result[key] as? [String])?.compactMap { Double($0) } }
        #expect(doubles("W2") == model.w2.scalars.map(Double.init))
        #expect((result["W2shape"] as? [Int]) == [6, 5])
        #expect(doubles("v") == model.v.scalars.map(Double.init))
        #expect((result["meta"] as? [String: String]) == ModelFile.metadata(cfg))
        #expect(doubles("a") == a.scalars)
        #expect((result["ashape"] as? [Int]) == [2, 3, 3, 4] && (result["adtype"] as? String) == "float64")
    }
}
