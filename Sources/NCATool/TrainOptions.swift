import ArgumentParser
import NCA

// Option groups of `nca train`: each a set of options that belong together.

/// How pictures become a trajectory, shared by `nca data images` and `nca train --preset morph`:
/// unset options take the defaults of the command's layout (`ImageSequence.Layout.paper` for
/// `data images`, `TrainingPreset.morph.pictureLayout` for the preset), both kept in the library.
struct PictureLayoutOptions: ParsableArguments {
    private static let paper = ImageSequence.Layout.paper
    private static let preset = TrainingPreset.morph.pictureLayout!

    @Option(
        name: [.customLong("image-size"), .customLong("size")],
        help:
            "Side each picture is fitted to (default \(Self.paper.size), the paper's; \(Self.preset.size) with train --preset morph)."
    )
    var imageSize: Int?

    @Option(
        help:
            "Empty cells around the pictures on every side (default \(Self.paper.pad); \(Self.preset.pad) with train --preset morph)."
    )
    var pad: Int?

    @Option(
        help:
            "R, randomly shifted copies (batch entries) (default \(Self.paper.copies); \(Self.preset.copies) with train --preset morph)."
    )
    var copies: Int?

    @Option(
        name: .customLong("hold-last"),
        help:
            "Extra repeats of the last picture, which must stay put (default \(Self.paper.holdLast); \(Self.preset.holdLast) with train --preset morph)."
    )
    var holdLast: Int?

    /// The layout: these options over `defaults`.
    func layout(defaults: ImageSequence.Layout) -> ImageSequence.Layout {
        ImageSequence.Layout(
            size: imageSize ?? defaults.size, pad: pad ?? defaults.pad, copies: copies ?? defaults.copies,
            holdLast: holdLast ?? defaults.holdLast)
    }

    func validate() throws {
        if let imageSize, imageSize < 3 || imageSize > 1024 {
            throw ValidationError("--image-size must be between 3 and 1024 (got \(imageSize))")
        }
        if let pad, pad < 0 || pad > 1024 { throw ValidationError("--pad must be between 0 and 1024 (got \(pad))") }
        if let copies, copies < 1 || copies > 1024 {
            throw ValidationError("--copies must be between 1 and 1024 (got \(copies))")
        }
        if let holdLast, holdLast < 0 || holdLast > 100 {
            throw ValidationError("--hold-last must be between 0 and 100 (got \(holdLast))")
        }
    }
}

/// Augmentation of the training data (any task; batch entry 0 is never augmented).
struct AugmentationOptions: ParsableArguments {
    @Option(
        name: .customLong("noise-augment"),
        help:
            "a: U(−a, a) is added to the observable channels of every transition's start state (default 0; 0.1 with --preset morph)."
    )
    var noiseAugment: Double?

    @Option(
        name: .customLong("shift-augment"),
        help: "Random shifts keeping the content inside the lattice: on or off (default off; on with --preset morph).")
    var shiftAugment: Switch?

    @Option(name: .customLong("rotate-augment"), help: "Random rotations by any angle: on or off.")
    var rotateAugment: Switch = .off

    @Option(name: .customLong("flip-augment"), help: "Random left–right flips: on or off.")
    var flipAugment: Switch = .off

    @Option(name: .customLong("augment-every"), help: "Re-draw shifts, rotations and flips every this many epochs.")
    var augmentEvery: Int = 10
}

/// How best.safetensors is chosen.
struct SelectionOptions: ParsableArguments {
    @Option(
        name: .customLong("select-by"),
        help:
            "How best.safetensors is chosen: rollout (lowest validation loss: the model run freely from each training trajectory's first frame over the data's horizon, every --validate-every epochs after the first 5 %) or training-loss (lowest epoch loss)."
    )
    var selectBy: SelectionMeasure = .rollout

    @Option(name: .customLong("validate-every"), help: "Epochs between validation rollouts (with --select-by rollout).")
    var validateEvery: Int = 10

    @Option(
        name: .customLong("validate-reach"),
        help:
            "Validation rollouts run on to this many times the data's horizon; a model whose observable values leave the data's range widened by half its span (for data in [0, 1]: [−0.5, 1.5]) anywhere up to there is rejected. 1 = the horizon only. Default 2; 8 with --preset morph."
    )
    var validateReach: Int?

    @Option(
        name: .customLong("validate-hold"),
        help:
            "For a sequence whose last frame must stay put: the validation loss also averages the loss to the last frame every t steps from the horizon up to --validate-reach × the horizon, so best.safetensors is a model that reaches the last frame and stays there: on or off (default off; on with --preset morph)."
    )
    var validateHold: Switch?
}

/// The pool of states run on past the horizon.
struct PoolOptions: ParsableArguments {
    @Option(
        help:
            "A pool of this many states the model ran on past the horizon: each epoch, each runs t more steps towards the data's last frame as an extra transition, and its prediction stays in the pool (re-seeded from the last transition's start state when its life ends or it leaves the data range). Teaches the last frame to be an attractor. Default 0 (none); 8 with --preset morph."
    )
    var pool: Int?

    @Option(
        name: .customLong("pool-reach"),
        help:
            "How far pool states run on, in multiples of the data's horizon T = M·t: each lives (reach − 1)·M + 1 epochs, the pool's lives staggered."
    )
    var poolReach: Int = 8

    @Option(
        name: .customLong("pool-damage"),
        help:
            "Fraction of the pool's transitions per epoch that start from a damaged state (every channel 0 in a random disc of radius S/8 to S/4). Default 0."
    )
    var poolDamage: Double?
}
