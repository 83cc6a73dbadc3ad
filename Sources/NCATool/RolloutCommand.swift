import ArgumentParser
import Foundation
import NCA

struct RolloutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Run a model from an initial state and save the trajectory, pictures and an animation.",
        discussion: """
            Writes DIR/trajectory.npy (saved frames × R × S × S × C, frame 0 = the initial state), \
            DIR/frames/step_NNNNNN.png for every saved frame, DIR/contact_sheet.png and \
            DIR/rollout.gif (pictures show batch entry --entry). Observable channels are drawn \
            with the viridis colour map (RGB for 3, RGBA over white for 4), hidden channels as a \
            grid below (one viridis tile each, or three to an RGB tile when the observable \
            channels are a colour picture); each channel keeps one colour range over the whole \
            rollout.

            --init takes an .npy state (R × S × S × C, or only the observable channels: hidden \
            channels then start at 0; a trajectory with --frame), or gray-scott-paper, \
            gray-scott-paper-test, gray-scott-random or gray-scott-unseen to draw a Gray-Scott \
            initial condition (--size, --batches, --seed; see 'nca data gray-scott --init').
            """)

    @Option(help: "Model file (.safetensors).")
    var model: String

    @Option(
        name: .customLong("init"),
        help: ArgumentHelp(
            "Initial state.", valueName: "FILE.npy|gray-scott-paper|gray-scott-paper-test|gray-scott-random|gray-scott-unseen")
    )
    var initial: String

    @Option(help: "When --init is a trajectory file, the frame to start from.")
    var frame: Int?

    @Option(help: "N, NCA steps to run.")
    var steps: Int

    @Option(help: "Save every k-th step (frame 0 is always saved).")
    var every: Int = 32

    @Option(help: "Lattice side for gray-scott-* initial conditions.")
    var size: Int = 64

    @Option(help: "Batch entries for gray-scott-* initial conditions.")
    var batches: Int = 1

    @Option(help: "Seed for gray-scott-* initial conditions and the stochastic mask.")
    var seed: UInt64 = 0

    @Option(help: "Batch entry shown in the pictures (0-based).")
    var entry: Int = 0

    @Option(name: .customLong("gif-delay"), help: "Delay between GIF frames in hundredths of a second.")
    var gifDelay: Int = 10

    @Option(help: "Output folder (created if missing).")
    var out: String

    func validate() throws {
        guard steps >= 0 else { throw ValidationError("--steps must be 0 or more (got \(steps))") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1 (got \(every))") }
        guard (steps / every + 1) <= 10_000 else {
            throw ValidationError("that would save \(steps / every + 1) frames; raise --every (at most 10000 frames)")
        }
        guard size >= 3 && size <= 4096 else { throw ValidationError("--size must be between 3 and 4096 (got \(size))") }
        guard batches >= 1 && batches <= 4096 else {
            throw ValidationError("--batches must be between 1 and 4096 (got \(batches))")
        }
        guard entry >= 0 else { throw ValidationError("--entry must be 0 or more") }
        guard gifDelay >= 1 && gifDelay <= 10_000 else { throw ValidationError("--gif-delay must be between 1 and 10000") }
    }

    func run() throws {
        try reportingErrors {
            let nca: NCAModel<Float> = try ModelFile.read(model)
            let c = nca.configuration
            var x: Tensor<Float>
            let prefix = "gray-scott-"
            switch initial {
            case _
            where initial.hasPrefix(prefix) && GrayScottInitialCondition(rawValue: String(initial.dropFirst(prefix.count))) != nil:
                guard c.observableChannels == 2 else {
                    throw ValidationError(
                        "\(initial) gives 2 observable channels (A, B) but the model has \(c.observableChannels)")
                }
                guard Double(batches) * Double(size * size) * Double(c.channels) <= Double(NPY.maxElements) else {
                    throw ValidationError(
                        "\(batches) × \(size) × \(size) × \(c.channels) states are too many values; lower --batches or --size")
                }
                let family = GrayScottInitialCondition(rawValue: String(initial.dropFirst(prefix.count)))!
                let ab = family.states(batch: batches, size: size, seed: seed)
                x = Tensor(zeros: [batches, size, size, c.channels])
                for cell in 0..<(batches * size * size) {
                    for ch in 0..<2 { x.scalars[cell * c.channels + ch] = Float(ab.scalars[cell * 2 + ch]) }
                }
            default:
                x = try StateFile.readState(initial, channels: c.channels, observable: c.observableChannels, frame: frame)
            }
            let (r, s) = (x.shape[0], x.shape[1])
            let savedFrames = steps / every + 2
            guard Double(savedFrames) * Double(x.scalars.count) <= Double(NPY.maxElements) else {
                throw ValidationError(
                    "the trajectory would hold \(savedFrames) frames of \(x.scalars.count) values; raise --every or lower --steps"
                )
            }
            guard entry < r else { throw ValidationError("--entry \(entry) does not exist; the state has \(r) batch entries") }
            try AtomicFile.makeFolder(out)
            try AtomicFile.makeFolder(out + "/frames")
            let engine = NCAEngine<Float>(configuration: c, batch: r, size: s)
            var rng = RandomGenerator(seed: seed)
            let started = Date()
            let live = isatty(STDOUT_FILENO) == 1
            let (trajectory, savedSteps) = engine.trajectory(nca, from: x, steps: steps, every: every, rng: &rng) { done in
                if live && Date().timeIntervalSince(started) > 1 { writeOut("\r\u{1B}[2Kstep \(done)/\(steps)") }
            }
            if live && Date().timeIntervalSince(started) > 1 { writeOut("\n") }
            try NPY.write(trajectory, to: out + "/trajectory.npy")
            let renderer = StateRenderer(trajectory: trajectory, observable: c.observableChannels)
            let stateCount = s * s * c.channels
            func cells(_ k: Int) -> ArraySlice<Float> {
                let start = (k * r + entry) * stateCount
                return trajectory.scalars[start..<(start + stateCount)]
            }
            var pictures: [RGBImage] = []
            for (k, step) in savedSteps.enumerated() {
                let picture = renderer.picture(cells(k), label: "step \(step)")
                try PNG.write(picture, to: out + String(format: "/frames/step_%06d.png", step))
                pictures.append(picture)
            }
            let columns = max(1, 1600 / (renderer.observablePicture(cells(0)).width + 4))
            try PNG.write(
                renderer.contactSheet(savedSteps.enumerated().map { ("step \($1)", cells($0)) }, columns: columns),
                to: out + "/contact_sheet.png")
            try GIF.write(frames: pictures, delay: gifDelay, palette: StateRenderer.palette, to: out + "/rollout.gif")
            let finite = trajectory.scalars.suffix(x.scalars.count).allSatisfy { $0.isFinite }
            say(
                "wrote \(out)/trajectory.npy (\(trajectory.shape.map(String.init).joined(separator: " × "))), \(savedSteps.count) frames, contact_sheet.png, rollout.gif"
            )
            if !finite {
                say(
                    "warning: the state became NaN or infinite during the rollout (the model is unstable from this initial state)"
                )
            }
        }
    }
}
