import ArgumentParser
import Foundation
import NCA

struct PerturbCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perturb",
        abstract: "Stability of a trained rule under perturbed initial states (local, adversarial, symmetry).",
        discussion: """
            The three analyses of the paper's §3.2.2 (Fig 10–12). Each reads a model and an initial \
            state (batch entry --entry of an .npy state, or a frame of a trajectory with --frame; \
            hidden channels start at 0 when the file holds only the observable ones), runs n steps \
            and writes its results, pictures and a JSON summary to --out.
            """,
        subcommands: [LocalPerturbCommand.self, AdversarialPerturbCommand.self, SymmetryPerturbCommand.self])
}

/// Options shared by the perturbation commands.
struct PerturbInputs: ParsableArguments {
    @Option(help: "Model file (.safetensors).")
    var model: String

    @Option(name: .customLong("init"), help: ArgumentHelp("Initial state (.npy).", valueName: "FILE.npy"))
    var initial: String

    @Option(help: "When --init is a trajectory file, the frame to start from.")
    var frame: Int?

    @Option(help: "Batch entry of the initial state to perturb (0-based).")
    var entry: Int = 0

    @Option(help: "n, NCA steps from the initial state to the compared final state.")
    var steps: Int

    @Option(help: "Seed for the stochastic mask (and random starts).")
    var seed: UInt64 = 0

    @Option(help: "Output folder (created if missing).")
    var out: String

    func validateCommon() throws {
        guard steps >= 1 && steps <= 1_000_000 else {
            throw ValidationError("--steps must be between 1 and 1000000 (got \(steps))")
        }
        guard entry >= 0 else { throw ValidationError("--entry must be 0 or more (got \(entry))") }
    }

    /// The model and batch entry `entry` of the initial state as 1 × S × S × C.
    func load() throws -> (NCAModel<Float>, Tensor<Float>) {
        let nca: NCAModel<Float> = try ModelFile.read(model)
        let c = nca.configuration
        let x: Tensor<Float> = try StateFile.readState(
            initial, channels: c.channels, observable: c.observableChannels, frame: frame)
        let (r, s) = (x.shape[0], x.shape[1])
        guard entry < r else { throw ValidationError("--entry \(entry) does not exist; \(initial) has \(r) batch entries") }
        let lattice = s * s * c.channels
        return (
            nca, Tensor(shape: [1, s, s, c.channels], scalars: Array(x.scalars[(entry * lattice)..<((entry + 1) * lattice)]))
        )
    }
}

func writeJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try AtomicFile.write(data + Data("\n".utf8), to: path)
}

/// A JSON number, or null when not finite.
func jsonNumber(_ value: Double) -> Any { value.isFinite ? value : NSNull() }

struct LocalPerturbCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Perturb one initial cell at a time; count the final cells that change (Fig 10).",
        discussion: """
            Adds --magnitude to the observable channels of every --stride-th cell in turn (the \
            perturbed states run together as batch entries), runs n steps and counts the final \
            cells where some observable channel differs from the unperturbed run by more than \
            --threshold. Writes DIR/heatmap.npy (counts, ⌈S/stride⌉ × ⌈S/stride⌉), DIR/reach.npy \
            (farthest changed cell from the perturbed one, −1 if none), DIR/heatmap.png, \
            DIR/examples.png (final states for a few perturbed cells) and DIR/local.json.
            """)

    @OptionGroup var inputs: PerturbInputs

    @Option(help: "Perturb every k-th cell along each axis.")
    var stride: Int = 1

    @Option(help: "Amount added to each observable channel of the perturbed cell.")
    var magnitude: Double = 1

    @Option(help: "A final cell counts as changed when some observable channel moves by more than this.")
    var threshold: Double = 0.1

    @Option(help: "Perturbed states run together per engine call.")
    var batch: Int = 16

    func validate() throws {
        try inputs.validateCommon()
        guard stride >= 1 else { throw ValidationError("--stride must be at least 1 (got \(stride))") }
        guard magnitude.isFinite && magnitude != 0 else { throw ValidationError("--magnitude must be a non-zero finite number") }
        guard threshold.isFinite && threshold >= 0 else { throw ValidationError("--threshold must be 0 or more") }
        guard batch >= 1 && batch <= 1024 else { throw ValidationError("--batch must be between 1 and 1024 (got \(batch))") }
    }

    func run() throws {
        try reportingErrors {
            let (nca, x0) = try inputs.load()
            let cfg = nca.configuration
            let s = x0.shape[1]
            guard stride <= s else { throw ValidationError("--stride \(stride) is larger than the lattice side \(s)") }
            try AtomicFile.makeFolder(inputs.out)
            let live = isatty(STDOUT_FILENO) == 1
            let result = LocalPerturbation.run(
                nca, initial: x0, steps: inputs.steps, stride: stride, magnitude: magnitude, threshold: threshold,
                seed: inputs.seed, batch: batch
            ) { done, total in
                if live { writeOut("\r\u{1B}[2Kperturbed \(done)/\(total) cells") }
            }
            if live { writeOut("\n") }
            let g = result.grid
            let out = inputs.out
            try NPY.write(Tensor(shape: [g, g], scalars: result.counts.map { Float($0) }), to: out + "/heatmap.npy")
            try NPY.write(Tensor(shape: [g, g], scalars: result.reach.map { Float($0) }), to: out + "/reach.npy")
            let most = result.counts.max() ?? 0
            let heat = RGBImage.heatmap(
                result.counts.map(Double.init), rows: g, columns: g, lower: 0, upper: Double(max(most, 1)), scale: max(1, 256 / g)
            )
            var picture = RGBImage(width: heat.width + 8, height: heat.height + 24)
            picture.drawText("changed cells, max \(most)", x: 4, y: 4)
            picture.paste(heat, x: 4, y: 20)
            try PNG.write(picture, to: out + "/heatmap.png")
            let c = cfg.channels
            let lattices = [result.reference] + result.examples.map(\.final)
            let renderer = StateRenderer(
                trajectory: Tensor(shape: [lattices.count, s, s, c], scalars: lattices.flatMap { $0 }),
                observable: cfg.observableChannels)
            let sheet = renderer.contactSheet(
                [("unperturbed", result.reference[...])]
                    + result.examples.map { ("at \($0.row),\($0.column)", $0.final[...]) }, columns: 5)
            try PNG.write(sheet, to: out + "/examples.png")
            let counted = result.counts.map(Double.init)
            let mean = counted.reduce(0, +) / Double(max(1, counted.count))
            let peak = result.counts.indices.max { result.counts[$0] < result.counts[$1] } ?? 0
            let reachMax = result.reach.max() ?? -1
            let reachMean =
                Double(result.reach.filter { $0 >= 0 }.reduce(0, +)) / Double(max(1, result.reach.filter { $0 >= 0 }.count))
            try writeJSON(
                [
                    "steps": inputs.steps, "stride": stride, "magnitude": magnitude, "threshold": threshold, "grid": g,
                    "mean_changed_cells": mean, "max_changed_cells": most,
                    "max_at": [(peak / g) * stride, (peak % g) * stride], "max_reach": reachMax, "mean_reach": reachMean,
                    "cells": s * s,
                ], to: out + "/local.json")
            say(
                String(
                    format:
                        "perturbing one of %d cells changes on average %.1f final cells (max %d at %d,%d); farthest change %d cells away (%d steps)",
                    g * g, mean, most, (peak / g) * stride, (peak % g) * stride, reachMax, inputs.steps))
            say("wrote \(out)/heatmap.npy, reach.npy, heatmap.png, examples.png, local.json")
        }
    }
}

struct AdversarialPerturbCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adversarial",
        abstract: "Search for the smallest initial perturbation that destroys x⁽ⁿ⁾ or the largest that preserves it (Fig 11).",
        discussion: """
            Optimises κ = ‖x̃‖ − ‖Φⁿ(x0 + x̃) − Φⁿ(x0)‖ over perturbations x̃ of the observable \
            channels with Adam, using the gradient of the rollout with respect to its initial state: \
            --mode destroy minimises κ, --mode preserve maximises it. Writes DIR/perturbation.npy \
            (S × S × C), DIR/reference.npy and DIR/perturbed.npy (frames × 1 × S × S × C, every n/4 steps up to \
            2n, beyond the compared time), DIR/adversarial.png (the two rows of snapshots) and \
            DIR/adversarial.json (κ per iteration, norms).
            """)

    @OptionGroup var inputs: PerturbInputs

    @Option(help: "destroy (minimise κ) or preserve (maximise κ).")
    var mode: AdversarialPerturbation.Mode

    @Option(help: "Optimisation iterations (each one forward and backward pass through n steps).")
    var iterations: Int = 100

    @Option(help: "Adam learning rate (the largest change per element per iteration).")
    var lr: Double = 0.01

    @Option(name: .customLong("initial-scale"), help: "The search starts from uniform noise of this amplitude.")
    var initialScale: Double = 0.01

    func validate() throws {
        try inputs.validateCommon()
        guard iterations >= 1 && iterations <= 100_000 else { throw ValidationError("--iterations must be between 1 and 100000") }
        guard lr.isFinite && lr > 0 else { throw ValidationError("--lr must be a positive number (got \(lr))") }
        guard initialScale.isFinite && initialScale > 0 else { throw ValidationError("--initial-scale must be positive") }
    }

    func run() throws {
        try reportingErrors {
            let (nca, x0) = try inputs.load()
            let cfg = nca.configuration
            let (s, c) = (x0.shape[1], cfg.channels)
            let n = inputs.steps
            try AtomicFile.makeFolder(inputs.out)
            let live = isatty(STDOUT_FILENO) == 1
            let result = AdversarialPerturbation.search(
                nca, initial: x0, steps: n, mode: mode, iterations: iterations, learningRate: lr, initialScale: initialScale,
                seed: inputs.seed
            ) { iteration, kappa in
                if live { writeOut(String(format: "\r\u{1B}[2Kiteration %d/%d  κ = %.5g", iteration, iterations, kappa)) }
            }
            if live { writeOut("\n") }
            let out = inputs.out
            try NPY.write(result.perturbation.reshaped([s, s, c]), to: out + "/perturbation.npy")
            // Trajectories to 2n: the compared time and as far again.
            let every = max(1, n / 4)
            let engine = NCAEngine<Float>(configuration: cfg, batch: 1, size: s)
            func trajectory(_ start: Tensor<Float>) -> (Tensor<Float>, [Int]) {
                var rng = RandomGenerator(seed: inputs.seed)
                return engine.trajectory(nca, from: start, steps: 2 * n, every: every, rng: &rng)
            }
            var perturbedStart = x0
            for i in 0..<perturbedStart.scalars.count { perturbedStart.scalars[i] += result.perturbation.scalars[i] }
            let (reference, saved) = trajectory(x0)
            let (perturbed, _) = trajectory(perturbedStart)
            try NPY.write(reference, to: out + "/reference.npy")
            try NPY.write(perturbed, to: out + "/perturbed.npy")
            let lattice = s * s * c
            let renderer = StateRenderer(
                trajectory: Tensor(shape: [2 * saved.count, s, s, c], scalars: reference.scalars + perturbed.scalars),
                observable: cfg.observableChannels)
            func cells(_ t: Tensor<Float>, _ k: Int) -> ArraySlice<Float> { t.scalars[(k * lattice)..<((k + 1) * lattice)] }
            let sheet = renderer.contactSheet(
                saved.indices.map { ("step \(saved[$0])", cells(reference, $0)) }
                    + saved.indices.map { ("\(mode.rawValue) \(saved[$0])", cells(perturbed, $0)) }, columns: saved.count)
            try PNG.write(sheet, to: out + "/adversarial.png")
            var summary: [String: Any] = [
                "mode": mode.rawValue, "steps": n, "iterations": result.kappaHistory.count, "learning_rate": lr,
                "kappa": jsonNumber(result.kappa), "perturbation_norm": jsonNumber(result.perturbationNorm),
                "final_change": jsonNumber(result.finalChange), "kappa_history": result.kappaHistory.map(jsonNumber),
                "initial_norm": jsonNumber(Self.norm(x0, observable: cfg.observableChannels, channels: c)),
            ]
            if let reason = result.stoppedEarly { summary["stopped_early"] = reason }
            try writeJSON(summary, to: out + "/adversarial.json")
            if let first = result.kappaHistory.first {
                say(
                    String(
                        format: "%@: κ %.5g → %.5g (‖x̃‖ = %.4g, ‖Φⁿ(x0+x̃) − Φⁿ(x0)‖ = %.4g after %d steps)", mode.rawValue, first,
                        result.kappa, result.perturbationNorm, result.finalChange, n))
            }
            if let reason = result.stoppedEarly { say("stopped early: \(reason)") }
            say("wrote \(out)/perturbation.npy, reference.npy, perturbed.npy, adversarial.png, adversarial.json")
        }
    }

    static func norm(_ x: Tensor<Float>, observable: Int, channels: Int) -> Double {
        var total = 0.0
        for (i, value) in x.scalars.enumerated() where i % channels < observable { total += Double(value) * Double(value) }
        return total.squareRoot()
    }
}

struct SymmetryPerturbCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "symmetry",
        abstract: "Rotate and flip the initial state; compare the rollout with the transformed rollout (Fig 12).",
        discussion: """
            For each transform T (rotations by 90°, 180°, 270° and 45° with bilinear resampling \
            about the centre, and flips of the rows or columns) reports ‖Φⁿ(T x0) − T Φⁿ(x0)‖ over \
            the observable channels, and the same relative to ‖T Φⁿ(x0)‖: 0 means the model \
            respects that symmetry. The identity row is the noise floor (with p > 0 its runs use \
            different mask draws). Writes DIR/symmetry.json, DIR/symmetry.png (per transform: \
            T x0, Φⁿ(T x0), T Φⁿ(x0)) and DIR/finals.npy (Φⁿ(T x0) per transform).
            """)

    @OptionGroup var inputs: PerturbInputs

    @Option(
        help: ArgumentHelp(
            "Transforms to test, comma-separated (\(LatticeTransform.allCases.map(\.rawValue).joined(separator: ", "))).",
            valueName: "list"))
    var transforms: String = LatticeTransform.allCases.map(\.rawValue).joined(separator: ",")

    func validate() throws {
        try inputs.validateCommon()
        _ = try parsedTransforms()
    }

    func parsedTransforms() throws -> [LatticeTransform] {
        try transforms.split(separator: ",").map { name in
            guard let t = LatticeTransform(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError(
                    "unknown transform '\(name)'; choose from \(LatticeTransform.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            return t
        }
    }

    func run() throws {
        try reportingErrors {
            let (nca, x0) = try inputs.load()
            let cfg = nca.configuration
            let (s, c) = (x0.shape[1], cfg.channels)
            let list = try parsedTransforms()
            guard !list.isEmpty else { throw ValidationError("--transforms lists no transform") }
            try AtomicFile.makeFolder(inputs.out)
            let result = SymmetryTest.run(nca, initial: x0, steps: inputs.steps, transforms: list, seed: inputs.seed)
            let out = inputs.out
            try NPY.write(
                Tensor(shape: [result.rows.count, s, s, c], scalars: result.rows.flatMap(\.final)), to: out + "/finals.npy")
            let all = result.rows.flatMap { $0.start + $0.final + $0.expected }
            let renderer = StateRenderer(
                trajectory: Tensor(shape: [3 * result.rows.count, s, s, c], scalars: all), observable: cfg.observableChannels)
            var tiles: [(label: String, cells: ArraySlice<Float>)] = []
            for row in result.rows {
                tiles.append((row.transform.rawValue, row.start[...]))
                tiles.append(("model \(inputs.steps)", row.final[...]))
                tiles.append(("expected", row.expected[...]))
            }
            try PNG.write(renderer.contactSheet(tiles, columns: 3), to: out + "/symmetry.png")
            try writeJSON(
                [
                    "steps": inputs.steps,
                    "transforms": result.rows.map {
                        [
                            "transform": $0.transform.rawValue, "distance": jsonNumber($0.distance),
                            "relative": jsonNumber($0.relative),
                        ]
                    },
                ], to: out + "/symmetry.json")
            say("transform      ‖Φⁿ(T x0) − T Φⁿ(x0)‖   relative")
            for row in result.rows {
                say(
                    row.transform.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
                        + String(format: "%-24.5g%.4g", row.distance, row.relative))
            }
            say("wrote \(out)/symmetry.json, symmetry.png, finals.npy")
        }
    }
}
extension AdversarialPerturbation.Mode: ExpressibleByArgument {}
