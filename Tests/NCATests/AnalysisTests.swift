import Foundation
import Testing

@testable import NCA

/// A model with hand-set weights (Double).
private func handModel(
    _ configuration: ModelConfiguration, w2: [Double], w1: [Double], v: [Double]? = nil
) -> NCAModel<Double> {
    let (kc, h, c) = (configuration.perceptionSize, configuration.hiddenSize, configuration.channels)
    return NCAModel(
        configuration: configuration, w2: Tensor(shape: [kc, h], scalars: w2), w1: Tensor(shape: [h, c], scalars: w1),
        v: Tensor(shape: [c], scalars: v ?? [Double](repeating: 0, count: c)))
}

/// x' = x + d · laplacian(x) on one channel: linear diffusion with a closed-form symbol.
private func diffusionModel(_ d: Double, boundary: Boundary = .periodic) -> NCAModel<Double> {
    handModel(
        ModelConfiguration(
            channels: 1, observableChannels: 1, kernels: [.identity, .laplacian], activation: .linear, hiddenSize: 1,
            boundary: boundary),
        w2: [0, d], w1: [1])
}

@Suite("Weight analysis and stability")
struct AnalysisTests {
    @Test func svdAndImportanceMatchNumpy() throws {
        let model: NCAModel<Double> = try ModelFile.read(fixture("analysis_model.safetensors"))
        let analysis = try WeightAnalysis(model)
        let s = try NPY.read(fixture("analysis_w2_s.npy")).values
        let u = try NPY.read(fixture("analysis_w2_u.npy"))
        #expect(relativeError(analysis.w2.singularValues, s) < 1e-5)
        #expect(relativeError(analysis.w1.singularValues, try NPY.read(fixture("analysis_w1_s.npy")).values) < 1e-5)
        // Singular vectors agree up to sign.
        let r = u.shape[1]
        for (i, direction) in analysis.w2Directions.enumerated() {
            let ours = direction.weights.flatMap { $0 }
            let theirs = (0..<u.shape[0]).map { u.values[$0 * r + i] }
            let dot = zip(ours, theirs).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(abs(abs(dot) - 1) < 1e-5, "direction \(i): |u·u_numpy| = \(abs(dot))")
        }
        let importance = try NPY.read(fixture("analysis_importance.npy")).values
        #expect(relativeError(analysis.importance.flatMap { $0 }, importance) < 1e-5)
        // Entropy rank from numpy's singular values, computed here by hand.
        let total = s.reduce(0, +)
        let entropy = -s.map { $0 / total }.reduce(0) { $0 + $1 * log($1) }
        #expect(abs(analysis.w2.entropyRank - exp(entropy)) < 1e-5)
        #expect(analysis.w2.thresholdRank == 6)
        #expect(abs(analysis.w2.cumulativeEnergy.last! - 1) < 1e-12)
    }

    @Test func modelReadingOnlyTheLaplacianOfChannelZero() throws {
        let cfg = ModelConfiguration(
            channels: 3, observableChannels: 1, kernels: [.identity, .laplacian, .gradX], activation: .relu, hiddenSize: 4)
        // Rows are (channel, kernel) channel-major; only row (0, laplacian) = 1 is non-zero.
        var w2 = [Double](repeating: 0, count: 9 * 4)
        for j in 0..<4 { w2[1 * 4 + j] = Double(j + 1) / 4 }
        var w1 = [Double](repeating: 0, count: 4 * 3)
        for j in 0..<4 { w1[j * 3 + 0] = 0.1 * Double(j + 1) }
        w1[0 * 3 + 2] = 0.01  // channel 2 is written a little but never read
        let analysis = try WeightAnalysis(handModel(cfg, w2: w2, w1: w1))
        for ch in 0..<3 {
            for k in 0..<3 {
                let expected = ch == 0 && k == 1 ? (1.0 + 4 + 9 + 16).squareRoot() / 4 : 0
                #expect(abs(analysis.importance[ch][k] - expected) < 1e-12)
            }
        }
        #expect(analysis.kernelShare(channel: 0, kernel: 1) == 1)
        #expect(analysis.w2.thresholdRank == 1)
        #expect(analysis.prunableChannels == [1, 2])
        #expect(analysis.hiddenUnits.first?.index == 3 && analysis.hiddenUnits.first?.mainChannel == 0)
        #expect(
            analysis.sentences.contains {
                $0.hasPrefix("Channel 0 (observable) is read mostly through the laplacian (100% of its weight): diffusive")
            })
        #expect(analysis.sentences.contains("Channel 1 (hidden) is not read by the network."))
        #expect(analysis.sentences.contains { $0.hasPrefix("Hidden channel(s) 1, 2 carry under 5%") })
        // The top W2 direction is the (0, laplacian) pair alone.
        #expect(abs(abs(analysis.w2Directions[0].weights[0][1]) - 1) < 1e-12)
    }

    @Test func diffusionSymbolMatchesClosedForm() throws {
        for d in [0.2, -0.1] {
            let model = diffusionModel(d)
            for (xi, eta) in [(0.0, 0.0), (0.3, -1.2), (Double.pi, Double.pi), (2.0, 0.5)] {
                let mode = try FourierStability.mode(model, about: [0.7], xi: xi, eta: eta)
                // ĝ_laplacian = (−12 + 4 cos ξ + 4 cos η + 4 cos ξ cos η) / 4.
                let expected = 1 + d * (-3 + cos(xi) + cos(eta) + cos(xi) * cos(eta))
                #expect(abs(mode.eigenvalueReal - expected) < 1e-12 && abs(mode.eigenvalueImaginary) < 1e-12)
                #expect(abs(mode.growthRate - log(abs(expected))) < 1e-12)
            }
            let scan = try FourierStability(model, about: [0.7], size: 16)
            if d > 0 {
                // Diffusion: nothing grows; the uniform mode is neutral.
                #expect(scan.fastest.growthRate <= 1e-12 && abs(scan.uniform.growthRate) < 1e-12)
                #expect(scan.sentences.contains { $0.hasPrefix("No Fourier mode grows") })
            } else {
                // Anti-diffusion: ĝ = (1 + cos ξ)(1 + cos η) − 4 reaches its minimum −4 on the
                // lines ξ = π or η = π, so λ = 1 + 4·0.1 there.
                #expect(abs(scan.fastest.growthRate - log(1.4)) < 1e-12)
                #expect(abs(abs(scan.fastest.xi) - .pi) < 1e-12 || abs(abs(scan.fastest.eta) - .pi) < 1e-12)
            }
            #expect(scan.drift == [0])
        }
    }

    @Test func advectionSymbolAndGrowingChannel() throws {
        // One channel read through grad-x: ĝ = −i (1 + cos η) sin ξ / 2, so forward-Euler
        // advection grows with |λ|² = 1 + (a (1 + cos η) sin ξ / 2)².
        let a = 0.8
        let advect = handModel(
            ModelConfiguration(channels: 1, observableChannels: 1, kernels: [.gradX], activation: .linear, hiddenSize: 1),
            w2: [a], w1: [1])
        for (xi, eta) in [(0.4, 0.0), (1.3, 2.1)] {
            let mode = try FourierStability.mode(advect, about: [0], xi: xi, eta: eta)
            let im = -a * (1 + cos(eta)) * sin(xi) / 2
            #expect(abs(mode.eigenvalueReal - 1) < 1e-12 && abs(mode.eigenvalueImaginary - im) < 1e-12)
        }
        // Two channels: 0 diffuses, 1 anti-diffuses; the growing mode lives in channel 1 only.
        let cfg = ModelConfiguration(
            channels: 2, observableChannels: 1, kernels: [.identity, .laplacian], activation: .linear, hiddenSize: 2,
            skipProbability: 0.5)
        // Rows (0,id), (0,lap), (1,id), (1,lap); hidden unit 0 carries channel 0, unit 1 channel 1.
        let model = handModel(cfg, w2: [0, 0, 0.2, 0, 0, 0, 0, -0.2], w1: [1, 0, 0, 1], v: [0.5, 0])
        let scan = try FourierStability(model, about: [0, 0], size: 8)
        #expect(scan.fastest.channelWeights[1] > 1 - 1e-12)
        // p = 0.5 halves the expected update: λ = 1 + 0.5 · 0.2 · 4 at the checkerboard.
        #expect(abs(scan.fastest.growthRate - log(1.4)) < 1e-12)
        #expect(scan.drift == [0.25, 0])
        #expect(scan.sentences.contains { $0.contains("not a fixed point") })
        #expect(scan.sentences.contains { $0.contains("mostly along channel(s) 1 hidden (100%)") })
    }

    @Test func latticeTransforms() {
        // 2 × 2, one channel: [[a, b], [c, d]]; numpy.rot90 gives [[b, d], [a, c]].
        let x: [Float] = [1, 2, 3, 4]
        #expect(LatticeTransform.rotate90.apply(x, size: 2, channels: 1) == [2, 4, 1, 3])
        #expect(LatticeTransform.rotate180.apply(x, size: 2, channels: 1) == [4, 3, 2, 1])
        #expect(LatticeTransform.rotate270.apply(x, size: 2, channels: 1) == [3, 1, 4, 2])
        #expect(LatticeTransform.flipRows.apply(x, size: 2, channels: 1) == [3, 4, 1, 2])
        #expect(LatticeTransform.flipColumns.apply(x, size: 2, channels: 1) == [2, 1, 4, 3])
        let y: [Float] = (0..<(5 * 5 * 2)).map { Float($0) }
        var turned = y
        for _ in 0..<4 { turned = LatticeTransform.rotate90.apply(turned, size: 5, channels: 2) }
        #expect(turned == y)
        // 45°: a constant lattice stays constant where the rotated source lies inside, and the
        // corners (whose source lies outside) read zero.
        let ones = [Float](repeating: 1, count: 49)
        let rotated = LatticeTransform.rotate45.apply(ones, size: 7, channels: 1)
        for i in 2...4 { for j in 2...4 { #expect(abs(rotated[i * 7 + j] - 1) < 1e-6) } }
        #expect(rotated[0] == 0 && rotated[6] == 0 && rotated[42] == 0 && rotated[48] == 0)
    }

    @Test func localPerturbationsOfIdentityAndDiffusion() {
        let s = 12
        var x0 = Tensor<Float>(zeros: [1, s, s, 1])
        for i in 0..<(s * s) { x0.scalars[i] = Float(i % 7) / 7 }
        let identity = NCAModel<Float>(converting: diffusionModel(0))
        let still = LocalPerturbation.run(identity, initial: x0, steps: 5, threshold: 0)
        #expect(still.counts.allSatisfy { $0 == 1 })  // only the perturbed cell itself
        #expect(still.reach.allSatisfy { $0 == 0 })
        let diffusion = NCAModel<Float>(converting: diffusionModel(0.2))
        let spread = LocalPerturbation.run(diffusion, initial: x0, steps: 3, threshold: 1e-6, batch: 7)
        // Three steps of a 3×3 stencil reach exactly 3 cells in every direction (periodic lattice).
        #expect(spread.reach.allSatisfy { $0 == 3 })
        #expect(spread.counts.allSatisfy { $0 == 49 })
        // Batching does not change the answer.
        let one = LocalPerturbation.run(diffusion, initial: x0, steps: 3, stride: 5, threshold: 1e-6, batch: 1)
        let many = LocalPerturbation.run(diffusion, initial: x0, steps: 3, stride: 5, threshold: 1e-6, batch: 16)
        #expect(one.counts == many.counts && one.grid == 3)
        #expect(!many.examples.isEmpty)
    }

    @Test func adversarialSearchMovesKappaTheAskedWay() {
        let cfg = ModelConfiguration(channels: 4, observableChannels: 2, kernels: [.identity, .laplacian], activation: .tanh)
        let model: NCAModel<Float> = randomModel(cfg, seed: 11, scale: 0.3)
        let x0: Tensor<Float> = randomTensor([1, 8, 8, 4], seed: 3)
        let destroy = AdversarialPerturbation.search(
            model, initial: x0, steps: 4, mode: .destroy, iterations: 25, learningRate: 0.02)
        let preserve = AdversarialPerturbation.search(
            model, initial: x0, steps: 4, mode: .preserve, iterations: 25, learningRate: 0.02)
        #expect(destroy.stoppedEarly == nil && preserve.stoppedEarly == nil)
        #expect(destroy.kappa < destroy.kappaHistory[0] - 1e-3)
        #expect(preserve.kappa > preserve.kappaHistory[0] + 1e-3)
        #expect(abs(destroy.kappa - (destroy.perturbationNorm - destroy.finalChange)) < 1e-9)
        // Only observable channels are perturbed.
        #expect(preserve.perturbation.scalars.enumerated().allSatisfy { $0.offset % 4 < 2 || $0.element == 0 })
    }

    @Test func symmetricKernelsCommuteWithLatticeSymmetries() {
        let isotropic = ModelConfiguration(
            channels: 4, observableChannels: 2, kernels: [.identity, .laplacian, .average], activation: .tanh)
        let x0: Tensor<Float> = randomTensor([1, 10, 10, 4], seed: 5)
        let test = SymmetryTest.run(
            randomModel(isotropic, seed: 2), initial: x0, steps: 6,
            transforms: [.identity, .rotate90, .rotate180, .rotate270, .flipRows, .flipColumns])
        for row in test.rows { #expect(row.relative < 1e-5, "\(row.transform): \(row.relative)") }
        let directional = ModelConfiguration(
            channels: 4, observableChannels: 2, kernels: [.identity, .gradX, .laplacian], activation: .tanh)
        let broken = SymmetryTest.run(
            randomModel(directional, seed: 2), initial: x0, steps: 6, transforms: [.identity, .rotate90])
        #expect(broken.rows[0].relative < 1e-5)  // identity: only rounding (entries sit in different tiles)
        #expect(broken.rows[1].relative > 1e-3)
    }

    @Test func pruningCheckOnAnUnusedChannel() throws {
        // Channel 2 (hidden) is never read or written: dropping it changes nothing.
        let cfg = ModelConfiguration(
            channels: 3, observableChannels: 1, kernels: [.identity, .laplacian], activation: .tanh, hiddenSize: 4)
        var model: NCAModel<Float> = randomModel(cfg, seed: 9, scale: 0.2)
        for k in 0..<2 { for j in 0..<4 { model.w2.scalars[(2 * 2 + k) * 4 + j] = 0 } }
        for j in 0..<4 { model.w1.scalars[j * 3 + 2] = 0 }
        model.v.scalars[2] = 0
        let analysis = try WeightAnalysis(NCAModel<Double>(converting: model))
        #expect(analysis.prunableChannels == [2])
        let data: Tensor<Float> = randomTensor([3, 2, 8, 8, 1], seed: 4)
        let check = try PruningCheck.run(model, analysis: analysis, data: data, timeSampling: 2, loss: .euclidean)
        #expect(check.variants.first?.name == "full")
        let dropped = try #require(check.variants.first { $0.name == "drop channel 2" })
        #expect(dropped.relativeChange == 0)
        #expect(check.variants.contains { $0.name == "W2 rank 1" })
        #expect(check.snapshots == 2)
    }
}

@Suite("Amplification at a state")
struct AmplificationTests {
    @Test func lanczosFindsTheLargestSingularValue() throws {
        var x0 = Tensor<Double>(zeros: [1, 8, 8, 1])
        for i in 0..<64 { x0.scalars[i] = Double(i % 5) / 5 }
        // Anti-diffusion x' = x − 0.1·∇²x is symmetric: σ_max = max|1 − 0.1·ĝ| = 1.4 per step.
        let model = handModel(
            ModelConfiguration(
                channels: 1, observableChannels: 1, kernels: [.identity, .laplacian], activation: .linear, hiddenSize: 1),
            w2: [0, -0.1], w1: [1])
        let one = try StateAmplification.compute(model, state: x0, steps: 1)
        #expect(abs(one.amplification - 1.4) < 1e-7, "\(one.amplification)")
        #expect(one.residual < 1e-5)
        let two = try StateAmplification.compute(model, state: x0, steps: 2)
        #expect(abs(two.amplification - 1.96) < 1e-7, "\(two.amplification)")
        #expect(abs(two.growthRatePerStep - log(1.4)) < 1e-7)
        // Two channels, only channel 1 anti-diffuses: the amplified perturbation lives there.
        let cfg = ModelConfiguration(
            channels: 2, observableChannels: 1, kernels: [.identity, .laplacian], activation: .linear, hiddenSize: 2)
        let split = handModel(cfg, w2: [0, 0, 0.1, 0, 0, 0, 0, -0.1], w1: [1, 0, 0, 1])
        var x2 = Tensor<Double>(zeros: [1, 8, 8, 2])
        for i in 0..<128 { x2.scalars[i] = Double(i % 7) / 7 }
        let result = try StateAmplification.compute(split, state: x2, steps: 1)
        #expect(abs(result.amplification - 1.4) < 1e-7)
        #expect(result.inputChannelWeights[1] > 0.999 && result.outputChannelWeights[1] > 0.999)
    }
}
