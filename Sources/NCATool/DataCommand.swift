import ArgumentParser
import Foundation
import NCA

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Generate training and test data.",
        subcommands: [GrayScottCommand.self, ImagesCommand.self])
}

struct GrayScottCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gray-scott",
        abstract: "Simulate the Gray-Scott PDE and write a trajectory (M+1) × R × S × S × 2.",
        discussion: """
            Explicit Euler, dt = 1, periodic, 9-point Laplacian (the 'laplacian' kernel), as in the \
            paper's §3.1. Channels are A, B. The trajectory keeps every t-th step: M = steps / t \
            snapshots after the initial state. Defaults reproduce the paper's maze patterns.
            """)

    @Option(help: "S, lattice side.")
    var size: Int = 64

    @Option(help: "N, PDE steps to simulate (a multiple of --time-sampling).")
    var steps: Int = 1024

    @OptionGroup var sampling: TimeSamplingOption
    var timeSampling: Int { sampling.value }

    @Option(help: "R, independent trajectories (batch entries); default 4 with --init paper, else 1.")
    var batches: Int?

    @Option(
        help: ArgumentHelp(
            "Initial condition: paper (the authors' four binary training states, A = 0 and B = 1 in blocks, A = 1 and B = 0 elsewhere; R = 4), paper-test (their unseen test state: a 16 × 16 block and 4-cell stripes of period 8 in the bottom quarter; R = 1), random (square patches of A 0.5, B 0.25), unseen (a harsh high-frequency stress test) or a FILE.npy of shape R × S × S × 2.",
            valueName: "paper|paper-test|random|unseen|FILE"))
    var `init`: String = "random"

    @Option(help: "ξ in [0, 1]: measurement noise ỹ = (1−ξ)y + ξη, η ~ U(min y, max y).")
    var noise: Double = 0

    @Option(name: .customLong("da"), help: "D_A, diffusion of A.")
    var diffusionA: Double = 0.1

    @Option(name: .customLong("db"), help: "D_B, diffusion of B.")
    var diffusionB: Double = 0.05

    @Option(help: "α, feed rate.")
    var alpha: Double = 0.06230

    @Option(help: "γ, kill rate.")
    var gamma: Double = 0.06268

    @Option(help: "Seed for initial conditions and noise.")
    var seed: UInt64 = 0

    @OptionGroup var precisionOption: PrecisionOption
    var precision: Precision { precisionOption.precision }

    @Option(help: "Output trajectory (.npy).")
    var out: String

    func validate() throws {
        guard size >= StateFile.minimumSize && size <= 4096 else {
            throw ValidationError("--size must be between 3 and 4096 (got \(size))")
        }
        guard steps >= 0 && steps % timeSampling == 0 else {
            throw ValidationError("--steps (\(steps)) must be a non-negative multiple of --time-sampling (\(timeSampling))")
        }
        guard resolvedBatches >= 1 && resolvedBatches <= 4096 else {
            throw ValidationError("--batches must be between 1 and 4096 (got \(resolvedBatches))")
        }
        guard noise.isFinite && noise >= 0 && noise <= 1 else {
            throw ValidationError("--noise must be in [0, 1] (got \(noise))")
        }
        for (name, value) in [("--da", diffusionA), ("--db", diffusionB), ("--alpha", alpha), ("--gamma", gamma)] {
            guard value.isFinite && value >= 0 else {
                throw ValidationError("\(name) must be a finite, non-negative number (got \(value))")
            }
        }
        let frames = Double(steps / timeSampling + 1) * Double(resolvedBatches * size * size * 2)
        guard frames <= Double(NPY.maxElements) else {
            throw ValidationError(
                "the trajectory would hold \(Int(frames)) values; raise --time-sampling or lower --steps, --batches or --size")
        }
    }

    /// --batches, or the family's natural count (4 for paper), or 1.
    var resolvedBatches: Int { batches ?? GrayScottInitialCondition(rawValue: self.`init`)?.naturalBatch ?? 1 }

    func run() throws {
        try reportingErrors {
            let initial: Tensor<Double>
            if let family = GrayScottInitialCondition(rawValue: self.`init`) {
                initial = family.states(batch: resolvedBatches, size: size, seed: seed)
            } else {
                initial = try StateFile.readState(self.`init`, channels: 2, observable: 2)
            }
            let pde = GrayScott(diffusionA: diffusionA, diffusionB: diffusionB, alpha: alpha, gamma: gamma)
            var trajectory = pde.trajectory(from: initial, steps: steps, timeSampling: timeSampling)
            guard trajectory.scalars.allSatisfy({ $0.isFinite }) else {
                throw FileError(
                    path: out,
                    problem: "the simulation blew up (NaN or infinity); lower --da/--db (explicit Euler needs D ≤ 0.25 or so)",
                    category: .usage)
            }
            addMeasurementNoise(&trajectory, intensity: noise, seed: seed)
            switch precision {
            case .float32: try NPY.write(Tensor<Float>(converting: trajectory), to: out)
            case .float64: try NPY.write(trajectory, to: out)
            }
            say(
                "wrote \(out): \(trajectory.shape.map(String.init).joined(separator: " × ")) (frames × R × S × S × [A, B]), every \(timeSampling) of \(steps) steps"
            )
        }
    }
}

struct ImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Build image-morphing data (paper §3.2) from PNG files: (M+1) × R × S × S × 4.",
        discussion: """
            Reads the PNGs with libpng (RGBA 8-bit; grey, grey + alpha, palette and 16-bit files are \
            converted, with a note), fits each to --size × --size (aspect kept, area averaging when \
            shrinking, bilinear when enlarging), premultiplies colour by alpha (a transparent \
            pixel is all zeros, like the zero boundary), embeds it in a zero lattice with --pad \
            cells on every side (S = size + 2·pad), repeats the last picture --hold-last more \
            times (so the model must keep it), and writes --copies batch entries: entry 0 \
            centred, the others shifted by a random whole number of cells in [−pad, pad] per \
            axis (seeded). --builtin uses three pictures drawn in code (ring, cross, face) \
            instead of files.
            """)

    @Argument(help: ArgumentHelp("Pictures in order (PNG).", valueName: "A.png B.png …"))
    var files: [String] = []

    @Flag(help: "Use the three built-in pictures (ring, cross, smiling face) instead of files.")
    var builtin = false

    @OptionGroup(title: "Picture layout") var pictureLayout: PictureLayoutOptions

    @Option(help: "Seed for the shifts.")
    var seed: UInt64 = 0

    @Option(help: "Output trajectory (.npy).")
    var out: String

    func validate() throws {
        guard builtin != !files.isEmpty else { throw ValidationError("give PNG files or --builtin (not both)") }
        let layout = pictureLayout.layout(defaults: .paper)
        let s = Double(layout.size + 2 * layout.pad)
        let values = Double(max(files.count, 3) + layout.holdLast) * Double(layout.copies) * s * s * 4
        guard values <= Double(NPY.maxElements) else {
            throw ValidationError("the trajectory would hold \(Int(values)) values; lower --size, --pad or --copies")
        }
    }

    func run() throws {
        try reportingErrors {
            let layout = pictureLayout.layout(defaults: .paper)
            var pictures: [Picture] = []
            if builtin {
                pictures = ImageSequence.builtinPictures(size: layout.size)
            } else {
                for file in files {
                    let data = try AtomicFile.read(file)
                    if let kind = try PNG.colourType(data, path: file) {
                        say("note: \(file) is \(kind); converted to 8-bit RGBA")
                    }
                    pictures.append(Picture(try PNG.decode(data, path: file)))
                }
            }
            let sequence = ImageSequence(pictures: pictures, layout: layout, seed: seed)
            let trajectory = sequence.trajectory()
            try NPY.write(trajectory, to: out)
            say(
                "wrote \(out): \(trajectory.shape.map(String.init).joined(separator: " × ")) (frames × copies × S × S × RGBA, premultiplied), S = \(sequence.latticeSize)"
            )
        }
    }
}
