import Foundation

/// Does the model still work without its least important parts? Each variant zeroes some
/// weights and rolls the model out against a trajectory; the change in loss says whether the
/// analysis's "unimportant" really is.
public struct PruningCheck: Codable, Sendable {
    /// One pruned variant of the model and how its rollout loss changed.
    public struct Variant: Codable, Equatable, Sendable {
        /// Short name of the variant, e.g. "drop channel 3".
        public var name: String
        /// What the variant zeroes, in words.
        public var description: String
        /// Mean rollout loss (nil when the rollout diverged).
        public var loss: Double?
        /// loss / full model's loss − 1 (nil when either diverged).
        public var relativeChange: Double?
    }

    /// Steps between the trajectory's snapshots.
    public var timeSampling: Int
    /// Snapshots of the trajectory the variants were rolled out against.
    public var snapshots: Int
    /// The loss function used, by name.
    public var lossFunction: String
    /// The full model first, then each pruned variant.
    public var variants: [Variant]

    /// Evaluates the full model and its pruned variants on `data` ((M+1) × R × S × S × O).
    public static func run(
        _ model: NCAModel<Float>, analysis: WeightAnalysis, data: Tensor<Float>, timeSampling: Int, loss: LossFunction,
        frames: Int? = nil, seed: UInt64 = 0
    ) throws(LinearAlgebraError) -> PruningCheck {
        var candidates: [(String, String, NCAModel<Float>)] = [("full", "the model as trained", model)]

        candidates += try lowRankVariants(model, analysis: analysis)
        candidates += weakUnitVariants(model, analysis: analysis)
        candidates += channelVariants(model, analysis: analysis)

        // The baseline every variant should beat: keep the initial state.
        var nothing = model
        nothing.w1 = Tensor(zeros: model.w1.shape)
        nothing.v = Tensor(zeros: model.v.shape)
        candidates.append(("do nothing", "W1 = 0 and v = 0: the initial state is kept (the baseline)", nothing))

        var variants: [Variant] = []
        var snapshots = 0
        for (name, description, variant) in candidates {
            let result = RolloutEvaluation.evaluate(
                variant, data: data, timeSampling: timeSampling, loss: loss, frames: frames, seed: seed)
            snapshots = result.losses.count
            let value = result.meanLoss.isFinite ? result.meanLoss : nil
            var change: Double? = nil
            if let value, let base = variants.first?.loss, base > 0 { change = value / base - 1 }
            variants.append(Variant(name: name, description: description, loss: value, relativeChange: change))
        }
        return PruningCheck(timeSampling: timeSampling, snapshots: snapshots, lossFunction: loss.rawValue, variants: variants)
    }

    /// W2 truncated to its top r singular directions, r = 1, 2, 4, … below its rank and the rank holding 99 % of its energy.
    private static func lowRankVariants(_ model: NCAModel<Float>, analysis: WeightAnalysis) throws(LinearAlgebraError) -> [(
        String, String, NCAModel<Float>
    )] {
        let cfg = model.configuration
        let h = cfg.hiddenSize
        var variants: [(String, String, NCAModel<Float>)] = []
        // Low-rank W2.
        let svd = try LinearAlgebra.svd(Tensor<Double>(converting: model.w2))
        let rank = analysis.w2.thresholdRank
        var ranks: [Int] = []
        var k = 1
        while k < rank {
            ranks.append(k)
            k *= 2
        }
        let k99 = analysis.w2.directions(capturing: 0.99)
        if k99 < rank && !ranks.contains(k99) { ranks.append(k99) }
        for r in ranks.sorted() {
            var pruned = model
            let full = svd.singularValues.count
            var matrix = [Double](repeating: 0, count: cfg.perceptionSize * h)
            for row in 0..<cfg.perceptionSize {
                for i in 0..<r {
                    let weight = svd.u.scalars[row * full + i] * svd.singularValues[i]
                    for j in 0..<h { matrix[row * h + j] += weight * svd.vt.scalars[i * h + j] }
                }
            }
            pruned.w2 = Tensor(shape: [cfg.perceptionSize, h], scalars: matrix.map { Float($0) })
            let energy = analysis.w2.cumulativeEnergy[r - 1]
            variants.append(
                (
                    "W2 rank \(r)",
                    String(format: "W2 truncated to its top %d singular direction(s) (%.2f%% of its energy)", r, 100 * energy),
                    pruned
                ))
        }
        return variants
    }

    /// The weakest quarter and half of the hidden units zeroed.
    private static func weakUnitVariants(_ model: NCAModel<Float>, analysis: WeightAnalysis) -> [(
        String, String, NCAModel<Float>
    )] {
        let cfg = model.configuration
        let (c, h) = (cfg.channels, cfg.hiddenSize)
        var variants: [(String, String, NCAModel<Float>)] = []
        // Weakest hidden units.
        for fraction in [0.25, 0.5] {
            let count = Int((Double(h) * fraction).rounded(.down))
            guard count >= 1 && count < h else { continue }
            let weakest = analysis.hiddenUnits.suffix(count).map(\.index)
            var pruned = model
            for j in weakest {
                for row in 0..<cfg.perceptionSize { pruned.w2.scalars[row * h + j] = 0 }
                for ch in 0..<c { pruned.w1.scalars[j * c + ch] = 0 }
            }
            variants.append(
                (
                    "drop \(count) units",
                    "the \(count) weakest of \(h) hidden units zeroed (units \(weakest.sorted().map(String.init).joined(separator: ",")))",
                    pruned
                ))
        }
        return variants
    }

    /// Hidden channels neither read nor written: the prunable ones, the least important, the weaker half.
    private static func channelVariants(_ model: NCAModel<Float>, analysis: WeightAnalysis) -> [(String, String, NCAModel<Float>)]
    {
        let cfg = model.configuration
        let (c, h, kCount) = (cfg.channels, cfg.hiddenSize, cfg.kernels.count)
        var variants: [(String, String, NCAModel<Float>)] = []
        // Least important hidden channels.
        let hiddenChannels = Array(cfg.observableChannels..<c).sorted {
            analysis.channelImportance[$0] < analysis.channelImportance[$1]
        }
        var channelSets: [[Int]] = []
        if !analysis.prunableChannels.isEmpty { channelSets.append(analysis.prunableChannels) }
        if let least = hiddenChannels.first, !channelSets.contains([least]) { channelSets.append([least]) }
        if hiddenChannels.count >= 2 {
            let half = Array(hiddenChannels.prefix(hiddenChannels.count / 2)).sorted()
            if !channelSets.contains(half) { channelSets.append(half) }
        }
        for set in channelSets {
            var pruned = model
            for ch in set {
                for k in 0..<kCount { for j in 0..<h { pruned.w2.scalars[(ch * kCount + k) * h + j] = 0 } }
                for j in 0..<h { pruned.w1.scalars[j * c + ch] = 0 }
                pruned.v.scalars[ch] = 0
            }
            let list = set.map(String.init).joined(separator: ",")
            variants.append(
                ("drop channel\(set.count > 1 ? "s" : "") \(list)", "hidden channel(s) \(list) neither read nor written", pruned))
        }
        return variants
    }
}

/// Everything `nca analyse` computes, as written to `analysis.json`.
public struct ModelAnalysis: Codable, Sendable {
    /// Format tag of `analysis.json`.
    public var format = "nca-analysis/1"
    /// Path of the analysed model file.
    public var model: String
    /// The analysed model's configuration.
    public var configuration: ModelConfiguration
    /// SVD spectra, directions and importances of the weights.
    public var weights: WeightAnalysis
    /// Linear stability of a uniform state, per wavenumber.
    public var stability: FourierStability
    /// Amplification of perturbations at a given state (`--state`), when one was given.
    public var stateAmplification: StateAmplification?
    /// The pruning check, when data was given.
    public var pruning: PruningCheck?

    /// Collects the parts of an analysis.
    public init(
        model: String, configuration: ModelConfiguration, weights: WeightAnalysis, stability: FourierStability,
        stateAmplification: StateAmplification? = nil, pruning: PruningCheck?
    ) {
        self.model = model
        self.configuration = configuration
        self.weights = weights
        self.stability = stability
        self.stateAmplification = stateAmplification
        self.pruning = pruning
    }

    /// Pretty-printed JSON with sorted snake_case keys (`weights.channel_importance`, …).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    /// Every sentence, in report order.
    public var sentences: [String] {
        var out = weights.sentences + stability.sentences
        if let stateAmplification { out.append(stateAmplification.sentence(observable: configuration.observableChannels)) }
        if let pruning, let full = pruning.variants.first?.loss {
            let pruned = pruning.variants.dropFirst().filter { $0.name != "do nothing" }
            let harmless = pruned.filter { abs($0.relativeChange ?? .infinity) <= 0.05 }
            let better = pruned.filter { ($0.relativeChange ?? .infinity) < -0.05 }
            var text = String(format: "Pruning check over %d snapshots: full model loss %.4g", pruning.snapshots, full)
            if let baseline = pruning.variants.last, baseline.name == "do nothing", let loss = baseline.loss {
                text += String(format: " (doing nothing: %.4g)", loss)
            }
            text +=
                harmless.isEmpty
                ? "; no pruned variant stays within 5%" : "; within 5%: " + harmless.map(\.name).joined(separator: ", ")
            if let best = better.min(by: { $0.relativeChange! < $1.relativeChange! }) {
                text += String(
                    format:
                        "; %d variant(s) do clearly better (best: %@, %+.0f%%), so the full model's rollout drifts and removing parts damps it",
                    better.count, best.name, 100 * best.relativeChange!)
            }
            out.append(text + ".")
        }
        return out
    }
}
