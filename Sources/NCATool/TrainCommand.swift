import ArgumentParser
import Foundation
import NCA

extension OptimizerKind: ExpressibleByArgument {}
extension UpdateSchedule: ExpressibleByArgument {}
extension DivergencePolicy: ExpressibleByArgument {}
extension SelectionMeasure: ExpressibleByArgument {}
extension WeightInitialisation.Kind: ExpressibleByArgument {}

extension TrainingPreset: ExpressibleByArgument {}

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
            checkpoint.safetensors, and when it finishes summary.json (the best model's rollout, \
            hold and test ratios to the do-nothing model) and report.html. 'nca train --resume RUN' \
            continues a stopped \
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
            Sources/NCA/NCA.docc/TrainAGrayScottModel.md): the four binary training states of 'nca data gray-scott --init \
            paper' over 1024 steps (M = 32, R = 4) and the unseen test state of --init paper-test \
            over 2048 steps; C 8, identity+laplacian, H 32, relu; W2 ~ N(0, 0.1²); Nadam at 1e-3 \
            with one step per mini-batch of 64 transitions and per-tensor gradient \
            normalisation; the state-range penalty λ = 0.01; the learning rate falls to 0.1 × \
            over the run (--lr-decay 0.1^(1/epochs)); rollout selection with the range check. \(TrainingPreset.grayScottEpochs) epochs take about 5 \
            minutes on 2 cores; any of these can be overridden (e.g. --epochs 4000, the paper's \
            budget, about 35 minutes).

            --preset morph is the paper's image task (§3.2): it builds its data like 'nca data \
            images' from three built-in pictures (a ring, a cross, a smiling face) or from \
            --images A.png B.png C.png, and uses the image defaults: 16 channels (4 observable, \
            RGBA), kernels identity,grad-x,grad-y,laplacian, relu, p = 0.5, zero boundary, \
            shifts re-drawn every 10 epochs; and a recipe that makes the last picture an \
            attractor (see Sources/NCA/NCA.docc/MorphPictures.md): noise augmentation 0.1 (one-cell perturbations of \
            the last picture then heal; with 0.01 they persist), the state-range penalty \
            λ = 0.01 (it keeps the hidden channels from drifting), a pool of 8 states run on \
            to 8 × the horizon (--pool 8), no output bias (--output-bias off), a step per \
            mini-batch of 8 transitions, and selection of the model that reaches the last \
            picture and stays there up to 8 × the horizon (--validate-hold on --validate-reach \
            8). 1000 epochs take about 3 minutes on 2 cores (the paper trained far longer).

            Under mpirun (Open MPI), the processes share every mini-batch (data-parallel; give \
            --out): each takes its share of the transitions, the gradients are summed in rank \
            order, every rank applies the same update, and rank 0 alone writes the run folder. A run \
            started under mpirun resumes in one process and the reverse (Docs/scale.md). \
            --stop-after N ends a session after N epochs with a checkpoint (for a job's time \
            limit); --resume continues it.

            Augmentation (any task; batch entry 0 is never augmented, it stays the reference): \
            --noise-augment a adds U(−a, a) to the observable channels of every transition's \
            start state; --shift-augment, --rotate-augment (any angle, bilinear) and \
            --flip-augment re-draw a transform per batch entry every --augment-every epochs. \
            All of it is seeded and recorded in config.json.
            """)

    @Option(help: "Generate the data for a built-in task: gray-scott or morph.")
    var preset: TrainingPreset?

    @Option(
        name: .customLong("recompute-every"),
        help:
            "Gradient checkpointing: keep every k-th state of a transition and recompute the rest in the backward pass (same gradients, memory for long --time-sampling; 1 = keep all)."
    )
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

    @Option(
        name: .customLong("stop-after"),
        help:
            "Stop after this many epochs of this session, with a checkpoint (exit status 0), to be continued with --resume: e.g. to fit a cluster job's time limit. Also with --resume."
    )
    var stopAfter: Int?

    @OptionGroup var model: ModelOptions
    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "With --preset morph: the pictures to morph through (PNG), instead of the built-in ones.", valueName: "A.png B.png …")
    )
    var images: [String] = []

    @OptionGroup(title: "Picture layout (with --preset morph)") var pictureLayout: PictureLayoutOptions
    @OptionGroup(title: "Augmentation") var augment: AugmentationOptions
    @OptionGroup(title: "Model selection") var selection: SelectionOptions
    @OptionGroup(title: "Pool") var poolOptions: PoolOptions

    @OptionGroup var sampling: TimeSamplingOption
    var timeSampling: Int { sampling.value }

    @Option(
        help:
            "Epochs to train (default 4000, the paper's; \(TrainingPreset.grayScottEpochs) with --preset gray-scott, 1000 with --preset morph)."
    )
    var epochs: Int?

    @Option(
        name: .customLong("minibatch-size"), help: "Transitions per mini-batch (default 64, the paper's; 8 with --preset morph).")
    var minibatchSize: Int?

    @Option(help: "Optimiser: nadam (the paper's), adam or sgd.")
    var optimizer: OptimizerKind = .nadam

    @Option(help: "Learning rate (default 1e-3, the paper's).")
    var lr: Double?

    @Option(
        name: .customLong("lr-decay"),
        help:
            "Multiply the learning rate by this each epoch (1 = constant). Default 1; with --preset gray-scott 0.1^(1/epochs), so the rate falls to 0.1 × over the run."
    )
    var lrDecay: Double?

    @Option(
        help:
            "Loss: euclidean (the paper's), mse, hellinger, bhattacharyya, sliced-wasserstein (directions from --seed; keeps each target's sorted order, 2 bytes per cell and direction: up to 1.25 GiB at t 1) or spectral; Sources/NCA/NCA.docc/TrainAGrayScottModel.md has the formulas."
    )
    var loss: LossFunction = .euclidean

    @Option(help: "Seed for the initial weights, mini-batch shuffles and masks.")
    var seed: UInt64 = 0

    @Option(
        name: .customLong("gradient-normalisation"),
        help: "Normalise each tensor's gradient by its L2 norm before the step: on or off.")
    var gradientNormalisation: Switch = .on

    @Option(
        help:
            "per-epoch (Algorithm 2: one step per epoch) or per-minibatch (one per mini-batch, as the authors' code). Default per-epoch; per-minibatch with either preset."
    )
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
        help:
            "How W2 is drawn: glorot (Glorot-uniform) or normal (N(0, scale²), the authors'). Default glorot; normal with --preset gray-scott."
    )
    var weightInit: WeightInitialisation.Kind?

    @Option(
        name: .customLong("weight-scale"),
        help:
            "With --weight-init glorot a factor on Glorot's limit (default 1); with normal the standard deviation (default 0.1).")
    var weightScale: Double?

    @Option(
        name: .customLong("range-penalty"),
        help:
            "λ of the state-range penalty: λ × mean over the t steps of Σ relu(−x) + relu(x − 1) over the mini-batch, every cell and every channel. It enters the gradient only (metrics.csv logs its value); 0 = off. Default 0; 0.01 with either preset."
    )
    var rangePenalty: Double?

    @Option(
        name: .customLong("output-bias"),
        help:
            "Train the output bias v: on, or off (v stays 0, so a cell whose whole 3×3 neighbourhood is zero stays zero: an empty background is an exact fixed point and its hidden channels cannot drift long after the horizon). Default on; off with --preset morph."
    )
    var outputBias: Switch?

    @Option(
        name: .customLong("weight-average"),
        help:
            "β of a moving average of the weights after every update (0 = none; 0.99 averages over about the last 100 updates). Validation, best.safetensors and average.safetensors use the average."
    )
    var weightAverage: Double = 0

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
        if let stopAfter, stopAfter < 1 { throw ValidationError("--stop-after must be at least 1 (got \(stopAfter))") }
        if (poolOptions.pool ?? preset?.pool ?? 0) == 0 && (poolOptions.poolDamage ?? 0) != 0 {
            throw ValidationError("--pool-damage damages pool states: give --pool n too")
        }
        do {
            try trainingConfiguration(
                modelConfiguration: try model.configuration(defaults: preset?.modelDefaults ?? ModelConfiguration())
            ).validate()
        } catch let error
            as ConfigurationError
        {
            throw ValidationError(userMessage(error))
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
        t.selectBy = selection.selectBy
        t.validateEvery = selection.validateEvery
        t.validateReach = selection.validateReach ?? preset?.validateReach ?? 2
        if (selection.validateHold ?? ((preset?.validateHold ?? false) ? .on : .off)) == .on { t.validateHold = true }
        if (outputBias ?? ((preset?.trainOutputBias ?? true) ? .on : .off)) == .off { t.trainOutputBias = false }
        t.snapshotEvery = snapshotEvery
        if weightAverage != 0 { t.weightAverage = weightAverage }
        let poolSize = poolOptions.pool ?? preset?.pool ?? 0
        if poolSize != 0 {
            t.pool = poolSize
            t.poolReach = poolOptions.poolReach
            if let damage = poolOptions.poolDamage, damage != 0 { t.poolDamage = damage }
        }
        t.checkpointEvery = checkpointEvery
        t.maxLoss = maxLoss
        t.onDivergence = onDivergence
        if recomputeEvery != 1 { t.recomputeEvery = recomputeEvery }
        let augmentation = Augmentation(
            noise: augment.noiseAugment ?? preset?.noiseAugment ?? 0, every: augment.augmentEvery,
            shift: (augment.shiftAugment ?? (preset == .morph ? .on : .off)) == .on, rotate: augment.rotateAugment == .on,
            flip: augment.flipAugment == .on)
        if augmentation != Augmentation(every: augment.augmentEvery) { t.augmentation = augmentation }
        return t
    }

    func run() throws {
        // Under mpirun with several processes: data-parallel training (Docs/scale.md).
        var world: Communicator?
        try reportingErrors { world = try Communicator.world().flatMap { $0.size > 1 ? $0 : nil } }
        do {
            try reportingErrors { try train(world: world) }
        } catch let code as ExitCode where world != nil && code != .success {
            // One rank failed (or was interrupted): stop the whole job rather than leave the
            // others waiting in the next collective. The checkpoint on disk is intact.
            if code.rawValue == 130 {
                world!.finalize()
                throw code
            }
            world!.abort(code: code.rawValue)
        } catch let error where world != nil {
            printError(TrainCommand.message(for: error))
            world!.abort(code: TrainCommand.exitCode(for: error).rawValue)
        }
        world?.finalize()
    }

    private func train(world: Communicator?) throws {
        let leader = world?.isLeader ?? true
        let run: TrainingRun
        if let resume {
            run = try TrainingRun(resuming: resume, writes: leader)
            if let conflict = model.conflict(with: run.configuration.training.model) { throw ValidationError(conflict) }
            if let epochs, epochs != run.configuration.training.epochs {
                throw ValidationError(
                    "--epochs with --resume is not supported yet; the run trains to \(run.configuration.training.epochs) epochs"
                )
            }
            if leader { say("resuming \(resume) at epoch \(run.trainer.state.epoch) of \(run.configuration.training.epochs)") }
        } else if let world {
            // Rank 0 makes the run folder (data, configuration, the epoch-0 checkpoint); the
            // others then open it as a resume would, so every rank starts from the same state.
            guard let folder = out else {
                throw ValidationError("under mpirun give --out RUN, so that every process trains the same run folder")
            }
            if world.isLeader { _ = try startRun() }
            try world.barrier()
            run = try TrainingRun(resuming: folder, writes: world.isLeader)
        } else {
            run = try startRun()
        }
        if let world {
            run.trainer.communicator = world
            if leader {
                say(
                    "data-parallel over \(world.size) processes: each takes its share of every mini-batch; rank 0 writes \(run.folder)"
                )
            }
        }
        Interrupt.install()
        let progress = ProgressPrinter(
            startEpoch: run.trainer.state.epoch, bestValidation: run.trainer.state.bestValidationLoss)
        // Under MPI every rank must stop after the same epoch: stop when any rank was asked to.
        let sessionStart = run.trainer.state.epoch
        let shouldStop: () -> Bool = {
            if let stopAfter, run.trainer.state.epoch - sessionStart >= stopAfter { return true }
            guard let world else { return Interrupt.requested }
            var flag = [Interrupt.requested ? 1.0 : 0]
            do { try world.sumInRankOrder(&flag) } catch { return true }
            return flag[0] > 0
        }
        do {
            try run.train(observer: leader ? progress : nil, shouldStop: shouldStop)
        } catch let error as FileError {
            // Disk full, file-size limit, unwritable folder: the last checkpoint is intact.
            progress.finish()
            let saved = (try? Checkpoint.read(run.checkpointPath)).map { "epoch \($0.state.epoch)" } ?? "none yet"
            throw FileError(
                path: error.path,
                problem: error.problem
                    + "; last checkpoint: \(saved), intact. Fix this, then: nca train --resume \(run.folder)"
            )
        }
        if leader { progress.finish() }
        if run.trainer.state.epoch < run.configuration.training.epochs {
            if leader {
                say(
                    "stopped at epoch \(run.trainer.state.epoch); checkpoint written. Continue with: nca train --resume \(run.folder)"
                )
            }
            // Asked for (--stop-after) is a success; Ctrl-C or kill is an interruption.
            if let stopAfter, run.trainer.state.epoch - sessionStart >= stopAfter { return }
            throw ExitCode(130)
        }
        if leader { try writeReport(run) }
    }
}
