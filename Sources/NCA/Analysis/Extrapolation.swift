import Foundation

/// How the model does past the training horizon T = M·t, from the first training
/// trajectory: it runs on to `Extrapolation.reach` × T and is compared every t steps with
/// the last frame (an end state that is an attractor keeps the loss near its value at T).
public struct Extrapolation: Sendable {
    /// How far past the horizon the model is run: to `reach` × T.
    public static let reach = 8
    /// The states shown in the report (at 2T, 4T and 8T).
    public var frames: [(step: Int, cells: [Float])]
    /// The training horizon T = M · t in steps.
    public var horizon: Int
    /// Loss to the last frame at T, and that of the do-nothing model (the first frame).
    public var atHorizon: Double
    /// Loss of the do-nothing model (the first frame, unchanged) to the last frame.
    public var doNothing: Double
    /// The worst loss to the last frame after T, and where.
    public var worst: Double
    /// The step of `worst`.
    public var worstStep: Int
    /// The observable values' range after T (nil if the rollout blew up).
    public var range: ClosedRange<Float>?

    /// Runs `model` on from the end of `evaluation` (its rollout of the first training trajectory `data`) to `reach` × T.
    public init(
        _ model: NCAModel<Float>, evaluation: RolloutEvaluation, data first: Tensor<Float>, timeSampling t: Int,
        loss: LossFunction
    ) {
        let frameCount = first.shape[0]
        horizon = (frameCount - 1) * t
        let lattice = first.count / frameCount
        let lastFrame = Tensor(
            shape: Array(first.shape.dropFirst()), scalars: Array(first.scalars[((frameCount - 1) * lattice)...]))
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

    /// `range` in words, or a note that the rollout blew up.
    public var rangeText: String {
        range.map { String(format: "[%.3g, %.3g]", $0.lowerBound, $0.upperBound) } ?? "not finite (it blew up)"
    }

    /// One sentence: the loss at the horizon, the worst loss after it and where, and the range.
    public var summary: String {
        String(
            format:
                "loss to the last frame %.5g at the horizon (step %d; do-nothing model: %.5g); run on to step %d: worst %.5g at step %d (%.3g × the horizon's), observable values in %@",
            atHorizon, horizon, doNothing, Self.reach * horizon, worst, worstStep, worst / atHorizon, rangeText)
    }
}
