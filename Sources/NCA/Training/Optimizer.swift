import RealModule

/// First-order optimisers over a list of parameter tensors (the model's W2, W1, v).
public enum OptimizerKind: String, CaseIterable, Codable, Sendable {
    /// Adam with Nesterov momentum as in Keras/TensorFlow (the paper's choice), including
    /// Keras's momentum schedule μ_t = β1 (1 − ½ · 0.96^(0.004 t)).
    case nadam
    /// Adam (Kingma & Ba) with bias correction: θ −= η m̂ / (√v̂ + ε).
    case adam
    /// Plain gradient descent: θ −= η g.
    case sgd
}

/// Optimiser state: first and second moments per parameter and the step count, all of which a
/// checkpoint saves so that a resumed run continues bit for bit.
public struct OptimizerState: Equatable, Sendable {
    /// Which optimiser.
    public var kind: OptimizerKind
    /// β1, the first moment's decay.
    public var beta1: Double
    /// β2, the second moment's decay.
    public var beta2: Double
    /// ε in the denominator (Keras's 1e-7 by default).
    public var epsilon: Double
    /// Number of updates taken so far.
    public var step: Int
    /// Keras Nadam's running product of momentum-schedule values.
    public var momentumSchedule: Double
    /// The first moment of each parameter tensor (empty for SGD).
    public var firstMoments: [[Float]]
    /// The second moment of each parameter tensor (empty for SGD).
    public var secondMoments: [[Float]]

    /// A fresh state (step 0, zero moments) for tensors of `parameterCounts` elements.
    public init(kind: OptimizerKind, parameterCounts: [Int], beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-7) {
        self.kind = kind
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        step = 0
        momentumSchedule = 1
        firstMoments = parameterCounts.map { [Float](repeating: 0, count: $0) }
        secondMoments = parameterCounts.map { [Float](repeating: 0, count: $0) }
    }

    /// Applies one update with learning rate `learningRate` to `parameters` given `gradients`
    /// (same shapes, same order as at initialisation). Arithmetic per element is in Double.
    public mutating func update(_ parameters: inout [Tensor<Float>], gradients: [Tensor<Float>], learningRate lr: Double) {
        precondition(
            parameters.count == firstMoments.count && gradients.count == parameters.count, "optimizer: parameter list changed")
        step += 1
        let t = Double(step)
        switch kind {
        case .sgd:
            for p in parameters.indices {
                for i in parameters[p].scalars.indices {
                    parameters[p].scalars[i] -= Float(lr * Double(gradients[p].scalars[i]))
                }
            }
        case .adam, .nadam:
            // Both keep m (momentum) and v (squared gradient) and divide by √v̂ + ε; they differ
            // in the step's numerator: Adam's bias-corrected m̂, Nadam's Nesterov look-ahead.
            let c1 = 1 - Double.pow(beta1, t)
            let c2 = 1 - Double.pow(beta2, t)
            let muT = beta1 * (1 - 0.5 * Double.pow(0.96, t * 0.004))
            let muNext = beta1 * (1 - 0.5 * Double.pow(0.96, (t + 1) * 0.004))
            let schedule = momentumSchedule * muT
            let scheduleNext = schedule * muNext
            if kind == .nadam { momentumSchedule = schedule }
            for p in parameters.indices {
                for i in parameters[p].scalars.indices {
                    let g = Double(gradients[p].scalars[i])
                    let m = beta1 * Double(firstMoments[p][i]) + (1 - beta1) * g
                    let v = beta2 * Double(secondMoments[p][i]) + (1 - beta2) * g * g
                    firstMoments[p][i] = Float(m)
                    secondMoments[p][i] = Float(v)
                    let numerator = kind == .adam ? m / c1 : (1 - muT) * g / (1 - schedule) + muNext * m / (1 - scheduleNext)
                    parameters[p].scalars[i] -= Float(lr * numerator / ((v / c2).squareRoot() + epsilon))
                }
            }
        }
    }
}
