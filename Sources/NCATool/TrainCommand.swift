import ArgumentParser
import Foundation
import NCA

extension OptimizerKind: ExpressibleByArgument {}
extension UpdateSchedule: ExpressibleByArgument {}
extension DivergencePolicy: ExpressibleByArgument {}
extension SelectionMeasure: ExpressibleByArgument {}
extension WeightInitialisation.Kind: ExpressibleByArgument {}

enum Preset: String, CaseIterable, ExpressibleByArgument {
    case grayScott = "gray-scott"
    case morph

    /// The model defaults of the task (SPEC "Training": Gray-Scott and images).
    var modelDefaults: ModelConfiguration {
        switch self {
        case .grayScott: return ModelConfiguration()
        case .morph:
            return ModelConfiguration(
                channels: 16, observableChannels: 4, kernels: [.identity, .gradX, .gradY, .laplacian], activation: .relu,
                boundary: .zero, skipProbability: 0.5)
        }
    }

    /// The epoch budget: each preset finishes in under 10 minutes on 2 cores, build included.
    var epochs: Int { self == .grayScott ? Self.grayScottEpochs : 1000 }
    static let grayScottEpochs = 600
    /// The recipe's learning rate, update schedule and weight initialisation (the authors':
    /// Nadam at 1e-3, a step per mini-batch, W2 ~ N(0, 0.1²) for Gray-Scott; see Docs/training.md).
    var learningRate: Double { 1e-3 }
    var update: UpdateSchedule { .perMinibatch }
    /// Transitions per mini-batch: the authors' 64 for Gray-Scott (2 steps per epoch); 8 for the
    /// image task, whose 16 transitions and 8 pool states per epoch then give 3 steps.
    var minibatchSize: Int { self == .grayScott ? 64 : 8 }
    /// The image task's attractor recipe (Docs/images.md): a pool of 8 states run on to 8 × the
    /// horizon, validation that holds the last frame up to 8 × the horizon, and no output bias
    /// (an empty background is then an exact fixed point).
    var pool: Int { self == .morph ? 8 : 0 }
    var validateReach: Int { self == .morph ? 8 : 2 }
    var trainOutputBias: Bool { self != .morph }
    /// Noise augmentation of the observable channels of transition start states: 0.1 for the
    /// image task gives the last picture a basin that one-cell perturbations fall back into.
    var noiseAugment: Double { self == .morph ? 0.1 : 0 }
    var validateHold: Bool { self == .morph }
    var weightInit: WeightInitialisation.Kind { self == .grayScott ? .normal : .glorot }
    /// The state-range penalty λ: 0.01 (the authors' for Gray-Scott; without it most runs give
    /// models that leave [0, 1] past the horizon; for the image task it keeps the hidden
    /// channels from drifting inside the picture, see Docs/images.md).
    var rangePenalty: Double { 0.01 }
    /// The per-epoch learning-rate factor for a run of `epochs` epochs: Gray-Scott's falls to
    /// 0.1 × over the run (constant 1e-3 oscillates between good and bad models), so a longer
    /// run decays more slowly.
    func learningRateDecay(epochs: Int) -> Double { self == .grayScott ? pow(0.1, 1 / Double(epochs)) : 1 }
}

enum Switch: String, CaseIterable, ExpressibleByArgument {
    case on
    case off
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an NCA on a trajectory (the paper's Algorithm 2) into a run folder.",
        discussion: """
            Give --data T.npy ((M+1) × R × S × S × O, e.g. from 'nca data gray-scott') or a \
            --preset, which makes its own data. The run folder gets config.json, data.npy, \
            metrics.csv, model.safetensors (the latest weights), best.safetensors, \
            checkpoint.safetensors and report.html. 'nca train --resume RUN' continues a stopped \
            run from its checkpoint and reproduces the uninterrupted run bit for bit (same thread \
            count).

            best.safetensors is chosen by --select-by rollout (default): every --validate-every \
            epochs after the first 5 % (and at the last epoch) the model runs freely from each \
            training trajectory's first frame, hidden channels 0, over the data's whole horizon, \
            and the model with the lowest mean loss against the data frames is kept (never the \
            untrained one). metrics.csv logs that validation loss; config.json and report.html \
            say what was chosen and why. --select-by training-loss keeps the lowest epoch loss \
            instead, which with propagated trajectories tends to pick a barely trained model.

            --preset gray-scott is the paper's §3.1 recipe as the authors' code ran it (see \
            Docs/training.md): the four binary training states of 'nca data gray-scott --init \
            paper' over 1024 steps (M = 32, R = 4) and the unseen test state of --init paper-test \
            over 2048 steps; C 8, identity+laplacian, H 32, relu; W2 ~ N(0, 0.1²); Nadam at 1e-3 \
            with one step per mini-batch of 64 transitions and per-tensor gradient \
            normalisation; the state-range penalty λ = 0.01; the learning rate falls to 0.1 × \
            over the run (--lr-decay 0.1^(1/epochs)); rollout selection with the range check. \(Preset.grayScottEpochs) epochs take about 5 \
            minutes on 2 cores; any of these can be overridden (e.g. --epochs 4000, the paper's \
            budget, about 35 minutes).

            --preset morph is the paper's image task (§3.2): it builds its data like 'nca data \
            images' from three built-in pictures (a ring, a cross, a smiling face) or from \
            --images A.png B.png C.png, and uses the image defaults: 16 channels (4 observable, \
            RGBA), kernels identity,grad-x,grad-y,laplacian, relu, p = 0.5, zero boundary, \
            shifts re-drawn every 10 epochs; and a recipe that makes the last picture an \
            attractor (see Docs/images.md): noise augmentation 0.1 (one-cell perturbations of \
            the last picture then heal; with 0.01 they persist), the state-range penalty \
            λ = 0.01 (it keeps the hidden channels from drifting), a pool of 8 states run on \
            to 8 × the horizon (--pool 8), no output bias (--output-bias off), a step per \
            mini-batch of 8 transitions, and selection of the model that reaches the last \
            picture and stays there up to 8 × the horizon (--validate-hold on --validate-reach \
            8). 1000 epochs take about 3 minutes on 2 cores (the paper trained far longer).

            Augmentation (any task; batch entry 0 is never augmented, it stays the reference): \
            --noise-augment a adds U(−a, a) to the observable channels of every transition's \
            start state; --shift-augment, --rotate-augment (any angle, bilinear) and \
            --flip-augment re-draw a transform per batch entry every --augment-every epochs. \
            All of it is seeded and recorded in config.json.
            """)

    @Option(help: "Generate the data for a built-in task: gray-scott or morph.")
    var preset: Preset?

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp("With --preset morph: the pictures to morph through (PNG), instead of the built-in ones.", valueName: "A.png B.png …"))
    var images: [String] = []

    @Option(name: .customLong("image-size"), help: "With --preset morph: side each picture is fitted to.")
    var imageSize: Int = 24

    @Option(help: "With --preset morph: empty cells around the pictures on every side.")
    var pad: Int = 6

    @Option(help: "With --preset morph: randomly shifted copies (batch entries).")
    var copies: Int = 4

    @Option(name: .customLong("hold-last"), help: "With --preset morph: extra repeats of the last picture (it must stay put).")
    var holdLast: Int = 2

    @Option(name: .customLong("noise-augment"), help: "a: U(−a, a) is added to the observable channels of every transition's start state (default 0; 0.1 with --preset morph).")
    var noiseAugment: Double?

    @Option(name: .customLong("shift-augment"), help: "Random shifts keeping the content inside the lattice: on or off (default off; on with --preset morph).")
    var shiftAugment: Switch?

    @Option(name: .customLong("rotate-augment"), help: "Random rotations by any angle: on or off.")
    var rotateAugment: Switch = .off

    @Option(name: .customLong("flip-augment"), help: "Random left–right flips: on or off.")
    var flipAugment: Switch = .off

    @Option(name: .customLong("augment-every"), help: "Re-draw shifts, rotations and flips every this many epochs.")
    var augmentEvery: Int = 10

    @Option(
        name: .customLong("recompute-every"),
        help: "Gradient checkpointing: keep every k-th state of a transition and recompute the rest in the backward pass (same gradients, memory for long --time-sampling; 1 = keep all).")
    var recomputeEvery: Int = 1

    @Option(help: "Training trajectory (.npy), (M+1) × R × S × S × O.")
    var data: String?

    @Option(
        name: .customLong("test-data"),
        help: "Test trajectory (.npy) for the test loss and the report (default with --preset: an unseen initial condition).")
    var testData: String?

    @Option(
        help:
            "Continue the run in this folder from its checkpoint; every setting comes from its config.json."
    )
    var resume: String?

    @OptionGroup var model: ModelOptions

    @Option(name: .customLong("time-sampling"), help: "t, NCA steps per data interval.")
    var timeSampling: Int = 32

    @Option(help: "Epochs to train (default 4000, the paper's; \(Preset.grayScottEpochs) with --preset gray-scott, 1000 with --preset morph).")
    var epochs: Int?

    @Option(name: .customLong("minibatch-size"), help: "Transitions per mini-batch (default 64, the paper's; 8 with --preset morph).")
    var minibatchSize: Int?

    @Option(help: "Optimiser: nadam (the paper's), adam or sgd.")
    var optimizer: OptimizerKind = .nadam

    @Option(help: "Learning rate (default 1e-3, the paper's).")
    var lr: Double?

    @Option(
        name: .customLong("lr-decay"),
        help: "Multiply the learning rate by this each epoch (1 = constant). Default 1; with --preset gray-scott 0.1^(1/epochs), so the rate falls to 0.1 × over the run.")
    var lrDecay: Double?

    @Option(help: "Loss: euclidean (the paper's) or mse.")
    var loss: LossFunction = .euclidean

    @Option(help: "Seed for the initial weights, mini-batch shuffles and masks.")
    var seed: UInt64 = 0

    @Option(
        name: .customLong("gradient-normalisation"),
        help: "Normalise each tensor's gradient by its L2 norm before the step: on or off.")
    var gradientNormalisation: Switch = .on

    @Option(
        help: "per-epoch (Algorithm 2: one step per epoch) or per-minibatch (one per mini-batch, as the authors' code). Default per-epoch; per-minibatch with either preset.")
    var update: UpdateSchedule?

    @Option(name: .customLong("checkpoint-every"), help: "Write a resumable checkpoint every this many epochs.")
    var checkpointEvery: Int = 10

    @Option(
        name: .customLong("max-loss"), help: "Treat an epoch whose loss exceeds this as diverged (default: only NaN/infinity).")
    var maxLoss: Double?

    @Option(
        name: .customLong("on-divergence"),
        help:
            "On NaN/infinity or a loss above --max-loss: stop (checkpoint kept), or rollback (restore the last checkpoint, halve the learning rate, go on)."
    )
    var onDivergence: DivergencePolicy = .stop

    @Option(
        name: .customLong("weight-init"),
        help: "How W2 is drawn: glorot (Glorot-uniform) or normal (N(0, scale²), the authors'). Default glorot; normal with --preset gray-scott.")
    var weightInit: WeightInitialisation.Kind?

    @Option(
        name: .customLong("weight-scale"),
        help: "With --weight-init glorot a factor on Glorot's limit (default 1); with normal the standard deviation (default 0.1).")
    var weightScale: Double?

    @Option(
        name: .customLong("range-penalty"),
        help: "λ of the state-range penalty: λ × mean over the t steps of Σ relu(−x) + relu(x − 1) over the mini-batch, every cell and every channel. It enters the gradient only (metrics.csv logs its value); 0 = off. Default 0; 0.01 with either preset.")
    var rangePenalty: Double?

    @Option(
        name: .customLong("select-by"),
        help: "How best.safetensors is chosen: rollout (lowest validation loss: the model run freely from each training trajectory's first frame over the data's horizon, every --validate-every epochs after the first 5 %) or training-loss (lowest epoch loss).")
    var selectBy: SelectionMeasure = .rollout

    @Option(name: .customLong("validate-every"), help: "Epochs between validation rollouts (with --select-by rollout).")
    var validateEvery: Int = 10

    @Option(
        name: .customLong("validate-reach"),
        help: "Validation rollouts run on to this many times the data's horizon; a model whose observable values leave the data's range widened by half its span (for data in [0, 1]: [−0.5, 1.5]) anywhere up to there is rejected. 1 = the horizon only. Default 2; 8 with --preset morph.")
    var validateReach: Int?

    @Option(
        name: .customLong("validate-hold"),
        help: "For a sequence whose last frame must stay put: the validation loss also averages the loss to the last frame every t steps from the horizon up to --validate-reach × the horizon, so best.safetensors is a model that reaches the last frame and stays there: on or off (default off; on with --preset morph).")
    var validateHold: Switch?

    @Option(
        name: .customLong("output-bias"),
        help: "Train the output bias v: on, or off (v stays 0, so a cell whose whole 3×3 neighbourhood is zero stays zero: an empty background is an exact fixed point and its hidden channels cannot drift long after the horizon). Default on; off with --preset morph.")
    var outputBias: Switch?

    @Option(
        name: .customLong("weight-average"),
        help: "β of a moving average of the weights after every update (0 = none; 0.99 averages over about the last 100 updates). Validation, best.safetensors and average.safetensors use the average.")
    var weightAverage: Double = 0

    @Option(
        help: "A pool of this many states the model ran on past the horizon: each epoch, each runs t more steps towards the data's last frame as an extra transition, and its prediction stays in the pool (re-seeded from the last transition's start state when its life ends or it leaves the data range). Teaches the last frame to be an attractor. Default 0 (none); 8 with --preset morph.")
    var pool: Int?

    @Option(
        name: .customLong("pool-reach"),
        help: "How far pool states run on, in multiples of the data's horizon T = M·t: each lives (reach − 1)·M + 1 epochs, the pool's lives staggered.")
    var poolReach: Int = 8

    @Option(
        name: .customLong("pool-damage"),
        help: "Fraction of the pool's transitions per epoch that start from a damaged state (every channel 0 in a random disc of radius S/8 to S/4). Default 0.")
    var poolDamage: Double?

    @Option(
        name: .customLong("snapshot-every"),
        help: "Also keep the model of every this many epochs in RUN/snapshots/epoch-NNNNNN.safetensors (default: none).")
    var snapshotEvery: Int?

    @Option(help: "Run folder (default runs/<timestamp>-<preset or data name>).")
    var out: String?

    func validate() throws {
        if resume == nil {
            guard (preset == nil) != (data == nil) else {
                throw ValidationError("give exactly one of --preset gray-scott|morph and --data T.npy (or --resume RUN)")
            }
            if !images.isEmpty && preset != .morph {
                throw ValidationError("--images goes with --preset morph (or build the data with 'nca data images')")
            }
        } else {
            guard preset == nil && data == nil && testData == nil && out == nil else {
                throw ValidationError("--resume continues a run as configured; drop --preset, --data, --test-data and --out")
            }
        }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        guard imageSize >= 3 && imageSize <= 1024 else { throw ValidationError("--image-size must be between 3 and 1024 (got \(imageSize))") }
        guard pad >= 0 && pad <= 1024 else { throw ValidationError("--pad must be between 0 and 1024 (got \(pad))") }
        guard copies >= 1 && copies <= 1024 else { throw ValidationError("--copies must be between 1 and 1024 (got \(copies))") }
        if (pool ?? preset?.pool ?? 0) == 0 && (poolDamage ?? 0) != 0 {
            throw ValidationError("--pool-damage damages pool states: give --pool n too")
        }
        guard holdLast >= 0 && holdLast <= 100 else { throw ValidationError("--hold-last must be between 0 and 100 (got \(holdLast))") }
        do { try trainingConfiguration(modelConfiguration: try model.configuration(defaults: preset?.modelDefaults ?? ModelConfiguration())).validate() } catch let error
            as ConfigurationError
        {
            throw ValidationError(error.description)
        }
    }

    func trainingConfiguration(modelConfiguration: ModelConfiguration) -> TrainingConfiguration {
        var t = TrainingConfiguration(model: modelConfiguration)
        t.timeSampling = timeSampling
        t.epochs = epochs ?? preset?.epochs ?? 4000
        t.minibatchSize = minibatchSize ?? preset?.minibatchSize ?? 64
        t.optimizer = optimizer
        t.learningRate = lr ?? preset?.learningRate ?? 1e-3
        t.learningRateDecay = lrDecay ?? preset?.learningRateDecay(epochs: t.epochs) ?? 1
        t.loss = loss
        t.seed = seed
        t.gradientNormalisation = gradientNormalisation == .on
        t.update = update ?? preset?.update ?? .perEpoch
        t.weightInitialisation = WeightInitialisation(kind: weightInit ?? preset?.weightInit ?? .glorot, scale: weightScale)
        let penalty = rangePenalty ?? preset?.rangePenalty ?? 0
        if penalty != 0 { t.rangePenalty = penalty }  // (NaN too: validate() refuses it)
        t.selectBy = selectBy
        t.validateEvery = validateEvery
        t.validateReach = validateReach ?? preset?.validateReach ?? 2
        if (validateHold ?? ((preset?.validateHold ?? false) ? .on : .off)) == .on { t.validateHold = true }
        if (outputBias ?? ((preset?.trainOutputBias ?? true) ? .on : .off)) == .off { t.trainOutputBias = false }
        t.snapshotEvery = snapshotEvery
        if weightAverage != 0 { t.weightAverage = weightAverage }
        let poolSize = pool ?? preset?.pool ?? 0
        if poolSize != 0 {
            t.pool = poolSize
            t.poolReach = poolReach
            if let poolDamage, poolDamage != 0 { t.poolDamage = poolDamage }
        }
        t.checkpointEvery = checkpointEvery
        t.maxLoss = maxLoss
        t.onDivergence = onDivergence
        if recomputeEvery != 1 { t.recomputeEvery = recomputeEvery }
        let augmentation = Augmentation(
            noise: noiseAugment ?? preset?.noiseAugment ?? 0, every: augmentEvery,
            shift: (shiftAugment ?? (preset == .morph ? .on : .off)) == .on, rotate: rotateAugment == .on, flip: flipAugment == .on)
        if augmentation != Augmentation(every: augmentEvery) { t.augmentation = augmentation }
        return t
    }

    func run() throws {
        try reportingErrors {
            let run: TrainingRun
            if let resume {
                run = try TrainingRun(resuming: resume)
                if let epochs, epochs != run.configuration.training.epochs {
                    throw ValidationError(
                        "--epochs with --resume is not supported yet; the run trains to \(run.configuration.training.epochs) epochs"
                    )
                }
                say("resuming \(resume) at epoch \(run.trainer.state.epoch) of \(run.configuration.training.epochs)")
            } else {
                run = try startRun()
            }
            Interrupt.install()
            let progress = ProgressPrinter(
                startEpoch: run.trainer.state.epoch, bestValidation: run.trainer.state.bestValidationLoss)
            do {
                try run.train(observer: progress, shouldStop: { Interrupt.requested })
            } catch let error as FileError {
                // Disk full, file-size limit, unwritable folder: the last checkpoint is intact.
                progress.finish()
                let saved = (try? Checkpoint.read(run.checkpointPath)).map { "epoch \($0.state.epoch)" } ?? "none yet"
                throw FileError(
                    path: error.path,
                    reason: error.reason + "; last checkpoint: \(saved), intact. Fix this, then: nca train --resume \(run.folder)")
            }
            progress.finish()
            if Interrupt.requested {
                say(
                    "stopped at epoch \(run.trainer.state.epoch); checkpoint written. Continue with: nca train --resume \(run.folder)"
                )
                throw ExitCode(130)
            }
            try writeReport(run)
        }
    }

    private func startRun() throws -> TrainingRun {
        let modelConfiguration = try model.configuration(defaults: preset?.modelDefaults ?? ModelConfiguration())
        let training = trainingConfiguration(modelConfiguration: modelConfiguration)
        let trainingData: Tensor<Float>
        var test: Tensor<Float>?
        let source: String
        var testSource: String?
        switch preset {
        case .grayScott:
            // The authors' four binary training states over 1024 steps, and their unseen test
            // state over 2048 (no randomness: the seed only drives the training).
            let pde = GrayScott()
            let initial = GrayScottInitialCondition.paper.states(batch: 4, size: 64, seed: 0)
            let steps = 1024 / timeSampling * timeSampling
            trainingData = Tensor(converting: pde.trajectory(from: initial, steps: steps, timeSampling: timeSampling))
            source = "nca data gray-scott --init paper --size 64 --steps \(steps) --time-sampling \(timeSampling)"
            let unseen = GrayScottInitialCondition.paperTest.states(batch: 1, size: 64, seed: 0)
            let testSteps = 2048 / timeSampling * timeSampling
            test = Tensor(converting: pde.trajectory(from: unseen, steps: testSteps, timeSampling: timeSampling))
            testSource = "nca data gray-scott --init paper-test --size 64 --steps \(testSteps) --time-sampling \(timeSampling)"
        case .morph:
            guard modelConfiguration.observableChannels == 4 else {
                throw ValidationError("--preset morph makes RGBA data: the model needs --observable 4")
            }
            let pictures = images.isEmpty ? ImageSequence.builtinPictures(size: imageSize) : try images.map { Picture(try PNG.read($0)) }
            let sequence = ImageSequence(pictures: pictures, size: imageSize, pad: pad, copies: copies, holdLast: holdLast, seed: seed)
            trainingData = sequence.trajectory()
            source =
                "nca data images \(images.isEmpty ? "--builtin" : images.joined(separator: " ")) --size \(imageSize) --pad \(pad) --copies \(copies) --hold-last \(holdLast) --seed \(seed)"
        case nil:
            trainingData = try TrajectoryFile.read(
                data!, observable: modelConfiguration.observableChannels, channels: modelConfiguration.channels)
            source = data!
        }
        if let testData {
            test = try TrajectoryFile.read(
                testData, observable: modelConfiguration.observableChannels, channels: modelConfiguration.channels)
            testSource = testData
        }
        let folder = out ?? defaultFolder()
        let run = try TrainingRun(
            newRunIn: folder,
            configuration: RunConfiguration(
                training: training, preset: preset?.rawValue, dataSource: source, dataShape: trainingData.shape,
                testDataSource: testSource, toolkitVersion: NCACommand.version),
            data: trainingData, testData: test)
        say(
            "training into \(folder): \(trainingData.shape[0] - 1) × \(trainingData.shape[1]) transitions of \(training.timeSampling) steps, \(training.epochs) epochs"
        )
        return run
    }

    private func defaultFolder() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let name = preset?.rawValue ?? URL(fileURLWithPath: data ?? "run").deletingPathExtension().lastPathComponent
        return "runs/\(formatter.string(from: Date()))-\(name)"
    }

    /// How the model does past the training horizon T = M·t, from the first training
    /// trajectory: it runs on to `Extrapolation.reach` × T and is compared every t steps with
    /// the last frame (an end state that is an attractor keeps the loss near its value at T).
    struct Extrapolation {
        static let reach = 8
        /// The states shown in the report (at 2T, 4T and 8T).
        var frames: [(step: Int, cells: [Float])]
        var horizon: Int
        /// Loss to the last frame at T, and that of the do-nothing model (the first frame).
        var atHorizon: Double
        var doNothing: Double
        /// The worst loss to the last frame after T, and where.
        var worst: Double
        var worstStep: Int
        /// The observable values' range after T (nil if the rollout blew up).
        var range: ClosedRange<Float>?

        init(_ model: NCAModel<Float>, evaluation: RolloutEvaluation, data first: Tensor<Float>, timeSampling t: Int, loss: LossFunction) {
            let frameCount = first.shape[0]
            horizon = (frameCount - 1) * t
            let lattice = first.count / frameCount
            let lastFrame = Tensor(shape: Array(first.shape.dropFirst()), scalars: Array(first.scalars[((frameCount - 1) * lattice)...]))
            let firstFrame = Tensor(shape: Array(first.shape.dropFirst()), scalars: Array(first.scalars[0..<lattice]))
            let o = model.configuration.observableChannels
            atHorizon = evaluation.losses.last ?? .nan
            doNothing = loss.evaluate(prediction: firstFrame, target: lastFrame, observableChannels: o).loss
            let run = RolloutEvaluation.beyond(
                model, from: evaluation, lastFrame: lastFrame, reach: Self.reach, loss: loss, seed: 1,
                keep: [2 * horizon, 4 * horizon, Self.reach * horizon])
            frames = run.kept.map { ($0.step, $0.state.scalars) }
            let worstIndex = run.losses.indices.max { run.losses[$0] < run.losses[$1] || run.losses[$1].isNaN }
            worst = worstIndex.map { run.losses[$0] } ?? atHorizon
            worstStep = worstIndex.map { run.steps[$0] } ?? horizon
            range = run.range
        }

        var rangeText: String { range.map { String(format: "[%.3g, %.3g]", $0.lowerBound, $0.upperBound) } ?? "not finite (it blew up)" }

        var summary: String {
            String(
                format: "loss to the last frame %.5g at the horizon (step %d; do-nothing model: %.5g); run on to step %d: worst %.5g at step %d (%.3g × the horizon's), observable values in %@",
                atHorizon, horizon, doNothing, Self.reach * horizon, worst, worstStep, worst / atHorizon, rangeText)
        }
    }

    private func writeReport(_ run: TrainingRun) throws {
        let state = run.trainer.state
        let t = run.configuration.training
        let o = t.model.observableChannels
        let final = state.model
        // best.safetensors: by rollout validation, or (older runs, --select-by training-loss)
        // by the training loss, which with propagated trajectories often means "barely trained".
        let best: NCAModel<Float> = (try? ModelFile.read(run.bestPath)) ?? final
        let bestEpoch = t.selection == .rollout ? state.bestValidationEpoch : state.bestEpoch
        let bestText =
            t.selection == .rollout && bestEpoch == 0
            ? "none of the validated models stayed within range up to \(t.validationReach) × the horizon, so best.safetensors is the last model (epoch \(state.epoch)); it is unstable: train longer, lower --lr, or check the data"
            : t.selection == .rollout
            ? String(
                format:
                    "epoch %d, chosen by the lowest validation loss %.5g (free rollout from the training trajectories' first frames over %d steps, staying in range up to %d)",
                bestEpoch, state.bestValidationLoss, (run.trainer.frames - 1) * t.timeSampling,
                t.validationReach * (run.trainer.frames - 1) * t.timeSampling)
            : "epoch \(bestEpoch), chosen by the lowest training loss"
        var comparisons: [RunReport.Comparison] = []
        let first = firstTrajectory(run.trainer.data)
        let evaluation = RolloutEvaluation.evaluate(best, data: first, timeSampling: t.timeSampling, loss: t.loss)
        // Past the training horizon T = M·t: does the final state stay put? Run on to 8T.
        let extrapolation = Extrapolation(best, evaluation: evaluation, data: first, timeSampling: t.timeSampling, loss: t.loss)
        comparisons.append(
            RunReport.Comparison(
                title: "Training trajectory (best model)",
                caption: "best.safetensors (\(bestText)) run freely from the first training trajectory's initial state (hidden channels 0), "
                    + "compared with the data at every snapshot, and run on to \(Extrapolation.reach) × the training horizon (columns \"beyond\"): "
                    + extrapolation.summary + ".",
                data: first, evaluation: evaluation, extrapolation: extrapolation.frames))
        let curve = try run.lossCurve()
        var line =
            "done: \(state.epoch) epochs, last training loss \(String(format: "%.5g", curve.last?.loss ?? .nan)); best model: \(bestText)"
            + String(
                format: "\nbest model's rollout loss on the first training trajectory %.5g (do-nothing model: %.5g)",
                evaluation.meanLoss, RolloutEvaluation.doNothingLoss(data: first, observable: o, loss: t.loss))
            + "\nbest model past the horizon: " + extrapolation.summary
        if let test = run.testData {
            let testFirst = firstTrajectory(test)
            let steps = (testFirst.shape[0] - 1) * t.timeSampling
            let baseline = RolloutEvaluation.doNothingLoss(data: testFirst, observable: o, loss: t.loss)
            for (name, model) in [("best", best), ("final", final)] {
                let evaluation = RolloutEvaluation.evaluate(model, data: testFirst, timeSampling: t.timeSampling, loss: t.loss)
                comparisons.append(
                    RunReport.Comparison(
                        title: "Test: unseen initial condition (\(name) model)",
                        caption: "The \(name) model run from the test trajectory's initial state for \(steps) steps "
                            + "(\(run.configuration.testDataSource ?? "test data")).",
                        data: testFirst, evaluation: evaluation))
                line += String(
                    format: "\n%@ model's test loss %.5g over %d steps = %.3g × the do-nothing model's (%.5g)", name, evaluation.meanLoss,
                    steps, evaluation.meanLoss / baseline, baseline)
            }
        }
        var report = RunReport(
            configuration: run.configuration, folderName: URL(fileURLWithPath: run.folder).lastPathComponent,
            curve: curve,
            bestEpoch: state.bestEpoch, bestLoss: state.bestLoss, comparisons: comparisons)
        report.validationCurve = try run.validationCurve()
        report.bestModel = bestText
        try report.write(to: run.reportPath)
        say(line)
        say("report: \(run.reportPath)")
    }

    /// Batch entry 0 of a trajectory, as a 1-entry trajectory.
    private func firstTrajectory(_ data: Tensor<Float>) -> Tensor<Float> {
        let (frames, r) = (data.shape[0], data.shape[1])
        let per = data.count / (frames * r)
        var scalars: [Float] = []
        scalars.reserveCapacity(frames * per)
        for f in 0..<frames { scalars += data.scalars[(f * r * per)..<(f * r * per + per)] }
        return Tensor(shape: [frames, 1] + Array(data.shape.dropFirst(2)), scalars: scalars)
    }
}

/// Set by SIGINT/SIGTERM; the training loop checks it between epochs.
enum Interrupt {
    nonisolated(unsafe) static var requested = false

    static func install() {
        signal(SIGINT) { _ in Interrupt.requested = true }
        signal(SIGTERM) { _ in Interrupt.requested = true }
        // A parent may have started us with these signals blocked (the mask is inherited);
        // unblock them so Ctrl-C and `kill` reach the handler.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

/// Prints training progress: a live line on a terminal, plain lines otherwise.
final class ProgressPrinter: TrainingObserver {
    private let isTerminal = isatty(STDOUT_FILENO) == 1
    private var lastPrint = Date.distantPast
    private let startEpoch: Int
    private let startTime = Date()
    private var pendingNewline = false

    /// `startEpoch`: epochs already done when this session started (for the rate and ETA).
    init(startEpoch: Int, bestValidation: Double = .infinity) {
        self.startEpoch = startEpoch
        self.bestValidation = bestValidation
    }

    private var bestValidation: Double

    func epochFinished(_ report: EpochReport, bestLoss: Double, elapsedSeconds: Double, totalEpochs: Int) {
        if let validation = report.validationLoss { bestValidation = min(bestValidation, validation) }
        let done = report.epoch - startEpoch
        let seconds = Date().timeIntervalSince(startTime)
        let rate = Double(done) / max(seconds, 1e-9)
        let remaining = Double(totalEpochs - report.epoch) / max(rate, 1e-9)
        let best =
            bestValidation.isFinite ? String(format: "validation best %.5g", bestValidation) : String(format: "best %.5g", bestLoss)
        let text = String(
            format: "epoch %d/%d  loss %.5g  %@  |g| %.3g  %.3g epochs/s  ETA %@", report.epoch, totalEpochs, report.loss, best,
            report.gradientNorm, rate, formatDuration(remaining))
        let now = Date()
        if isTerminal {
            if now.timeIntervalSince(lastPrint) >= 0.1 || report.epoch == totalEpochs {
                writeOut("\r\u{1B}[2K" + text)
                pendingNewline = true
                lastPrint = now
            }
        } else if now.timeIntervalSince(lastPrint) >= 1 || report.epoch == totalEpochs {
            writeOut(text + "\n")
            lastPrint = now
        }
    }

    func checkpointWritten(epoch: Int) {}

    func rolledBack(_ error: DivergenceError, toEpoch epoch: Int, learningRateScale: Double) {
        finish()
        writeOut(
            "\(error.description.components(separatedBy: ";").first ?? "diverged"); rolled back to epoch \(epoch), "
                + "learning rate now × \(learningRateScale)\n")
    }

    func finish() {
        if pendingNewline { writeOut("\n") }
        pendingNewline = false
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
}
