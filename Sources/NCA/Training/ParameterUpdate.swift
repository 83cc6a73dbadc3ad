/// ∂L/∂(W2, W1, v): the gradient of the learned parameters, by name.
public struct WeightGradients: Equatable, Sendable {
    /// ∂L/∂W2 (K·C × H).
    public var w2: Tensor<Float>
    /// ∂L/∂W1 (H × C).
    public var w1: Tensor<Float>
    /// ∂L/∂v (C).
    public var v: Tensor<Float>

    /// The gradient of the three tensors.
    public init(w2: Tensor<Float>, w1: Tensor<Float>, v: Tensor<Float>) {
        self.w2 = w2
        self.w1 = w1
        self.v = v
    }

    /// Zeros shaped like `model`'s weights.
    public init(zerosLike model: NCAModel<Float>) {
        self.init(w2: Tensor(zeros: model.w2.shape), w1: Tensor(zeros: model.w1.shape), v: Tensor(zeros: model.v.shape))
    }

    /// The weight part of an engine's gradients.
    public init(_ gradients: Gradients<Float>) { self.init(w2: gradients.w2, w1: gradients.w1, v: gradients.v) }

    /// The tensors with their names, in the optimiser's order (W2, W1, v).
    var named: [(name: String, tensor: Tensor<Float>)] { [("W2", w2), ("W1", w1), ("v", v)] }

    /// The name of the first tensor holding NaN or infinity, nil when all are finite.
    public var nonFiniteTensor: String? { named.first { !$0.tensor.scalars.allSatisfy(\.isFinite) }?.name }

    /// The L2 norm of all three together.
    public var norm: Double {
        named.reduce(0.0) { $0 + $1.tensor.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }.squareRoot()
    }

    /// self += other, element by element.
    public mutating func add(_ other: WeightGradients) {
        for i in w2.scalars.indices { w2.scalars[i] += other.w2.scalars[i] }
        for i in w1.scalars.indices { w1.scalars[i] += other.w1.scalars[i] }
        for i in v.scalars.indices { v.scalars[i] += other.v.scalars[i] }
    }

    /// Each tensor divided by its own L2 norm + 1e-8 (the paper's per-tensor normalisation).
    public mutating func normalisePerTensor() {
        func normalise(_ t: inout Tensor<Float>) {
            let norm = Float(t.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            for i in t.scalars.indices { t.scalars[i] /= norm + 1e-8 }
        }
        normalise(&w2)
        normalise(&w1)
        normalise(&v)
    }
}

extension NCAModel where T == Float {
    /// One optimiser step on the weights: the gradient's v part zeroed when the output bias is
    /// held (`holdOutputBias`), each tensor normalised by its norm when `normalise`, then the
    /// optimiser's update at `learningRate`. Shared by training and the benchmarks.
    public mutating func update(
        with gradients: WeightGradients, optimizer: inout OptimizerState, learningRate: Double, normalise: Bool,
        holdOutputBias: Bool = false
    ) {
        var g = gradients
        if holdOutputBias {
            for i in g.v.scalars.indices { g.v.scalars[i] = 0 }
        }
        if normalise { g.normalisePerTensor() }
        var parameters = [w2, w1, v]
        optimizer.update(&parameters, gradients: [g.w2, g.w1, g.v], learningRate: learningRate)
        (w2, w1, v) = (parameters[0], parameters[1], parameters[2])
    }
}
