import AllocationCounter
import Testing

@testable import NCA

/// Once an engine has run a pass of a given length, further passes allocate nothing per step.
@Suite("Allocations")
struct AllocationTests {
    /// Allocations made by `body` on this thread.
    func allocations(_ body: () -> Void) -> Int {
        let before = nca_thread_allocation_count()
        body()
        return nca_thread_allocation_count() - before
    }

    @Test(.enabled(if: nca_allocation_counting_available() != 0, "malloc is owned by AddressSanitizer"))
    func stepLoopsDoNotAllocateOnceWarm() {
        let cfg = ModelConfiguration(
            channels: 4, observableChannels: 2, kernels: [.identity, .gradX, .laplacian], activation: .gelu, hiddenSize: 8,
            skipProbability: 0.5)
        let model: NCAModel<Float> = randomModel(cfg, seed: 1)
        let engine = NCAEngine<Float>(configuration: cfg, batch: 2, size: 12)
        let x0: Tensor<Float> = randomTensor([2, 12, 12, 4], seed: 2)
        var state = x0
        var rng = RandomGenerator(seed: 3)
        // Warm up: the first pass of each length allocates its tape entries.
        let gradient = Tensor<Float>(shape: x0.shape, repeating: 0.5)
        _ = engine.forward(model, from: x0, steps: 40, rng: &rng)
        _ = engine.backward(model, outputGradient: gradient)
        engine.run(model, state: &state, steps: 1, rng: &rng)

        let run1 = allocations { engine.run(model, state: &state, steps: 1, rng: &rng) }
        let run30 = allocations { engine.run(model, state: &state, steps: 30, rng: &rng) }
        #expect(run30 == run1, "run: \(run1) allocations for 1 step, \(run30) for 30")
        #expect(run1 <= 2, "run: \(run1) allocations per call")

        var forward5 = 0
        var forward40 = 0
        forward5 = allocations { _ = engine.forward(model, from: x0, steps: 5, rng: &rng) }
        forward40 = allocations { _ = engine.forward(model, from: x0, steps: 40, rng: &rng) }
        // A pass copies its initial state and returns the final one: a constant, not per step.
        #expect(forward40 == forward5, "forward: \(forward5) allocations for 5 steps, \(forward40) for 40")
        let backward40 = allocations { _ = engine.backward(model, outputGradient: gradient) }
        _ = engine.forward(model, from: x0, steps: 5, rng: &rng)
        let backward5 = allocations { _ = engine.backward(model, outputGradient: gradient) }
        #expect(backward40 == backward5, "backward: \(backward5) allocations for 5 steps, \(backward40) for 40")
    }
}
