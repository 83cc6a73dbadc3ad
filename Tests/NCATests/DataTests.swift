import Foundation
import Testing

@testable import NCA

@Suite("Gray-Scott data")
struct DataTests {
    /// The PDE step written out with 2-D arrays and explicit neighbour sums.
    func naiveStep(_ a: [[Double]], _ b: [[Double]], _ p: GrayScott) -> ([[Double]], [[Double]]) {
        let s = a.count
        func lap(_ f: [[Double]], _ i: Int, _ j: Int) -> Double {
            let up = (i + s - 1) % s, down = (i + 1) % s, left = (j + s - 1) % s, right = (j + 1) % s
            let edges = f[up][j] + f[down][j] + f[i][left] + f[i][right]
            let corners = f[up][left] + f[up][right] + f[down][left] + f[down][right]
            return (corners + 2 * edges - 12 * f[i][j]) / 4
        }
        var a2 = a, b2 = b
        for i in 0..<s {
            for j in 0..<s {
                let r = a[i][j] * b[i][j] * b[i][j]
                a2[i][j] = a[i][j] + p.diffusionA * lap(a, i, j) - r + p.alpha * (1 - a[i][j])
                b2[i][j] = b[i][j] + p.diffusionB * lap(b, i, j) + r - (p.gamma + p.alpha) * b[i][j]
            }
        }
        return (a2, b2)
    }

    @Test func stepMatchesNaiveSolver() {
        let p = GrayScott(diffusionA: 0.11, diffusionB: 0.045, alpha: 0.05, gamma: 0.07)
        let (batch, s) = (2, 7)
        let initial: Tensor<Double> = randomTensor([batch, s, s, 2], seed: 8)
        let trajectory = p.trajectory(from: initial, steps: 6, timeSampling: 3)
        #expect(trajectory.shape == [3, batch, s, s, 2])
        for r in 0..<batch {
            var a = (0..<s).map { i in (0..<s).map { j in initial.scalars[((r * s + i) * s + j) * 2] } }
            var b = (0..<s).map { i in (0..<s).map { j in initial.scalars[((r * s + i) * s + j) * 2 + 1] } }
            for n in 1...6 {
                (a, b) = naiveStep(a, b, p)
                guard n % 3 == 0 else { continue }
                let frame = n / 3
                for i in 0..<s {
                    for j in 0..<s {
                        let q = ((((frame * batch) + r) * s + i) * s + j) * 2
                        #expect(abs(trajectory.scalars[q] - a[i][j]) < 1e-14)
                        #expect(abs(trajectory.scalars[q + 1] - b[i][j]) < 1e-14)
                    }
                }
            }
        }
        // Frame 0 is the initial state.
        #expect(Array(trajectory.scalars.prefix(initial.count)) == initial.scalars)
    }

    @Test func uniformStateFollowsTheReactionTerms() {
        // ∇² of a uniform field is 0: d(A+B)/dt = α(1 − A) − (γ + α)B exactly, and the fixed
        // point A = 1, B = 0 stays put.
        let p = GrayScott()
        let (a, b) = (0.7, 0.2)
        let x = Tensor<Double>(shape: [1, 5, 5, 2], scalars: (0..<50).map { $0 % 2 == 0 ? a : b })
        let next = p.trajectory(from: x, steps: 1, timeSampling: 1)
        let (a1, b1) = (next.scalars[50], next.scalars[51])
        #expect(abs((a1 + b1) - (a + b) - (p.alpha * (1 - a) - (p.gamma + p.alpha) * b)) < 1e-15)
        #expect(abs(b1 - (b + a * b * b - (p.gamma + p.alpha) * b)) < 1e-15)
        #expect(Set(next.scalars[50...].enumerated().map { "\($0.offset % 2):\($0.element)" }).count == 2, "stays uniform")
        let rest = Tensor<Double>(shape: [1, 4, 4, 2], scalars: (0..<32).map { $0 % 2 == 0 ? 1 : 0 })
        #expect(p.trajectory(from: rest, steps: 10, timeSampling: 10).scalars[32...] == rest.scalars[...])
    }

    @Test func initialConditionsAreSeededAndDistinct() {
        for family in [GrayScottInitialCondition.random, .unseen] {
            let x = family.states(batch: 3, size: 32, seed: 4)
            #expect(x == family.states(batch: 3, size: 32, seed: 4))
            #expect(x != family.states(batch: 3, size: 32, seed: 5))
            #expect(x.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
            // Batch entries differ, and every entry has some B seeded.
            let entry = 32 * 32 * 2
            #expect(x.scalars[0..<entry] != x.scalars[entry..<(2 * entry)])
            for r in 0..<3 { #expect(stride(from: r * entry + 1, to: (r + 1) * entry, by: 2).contains { x.scalars[$0] > 0.2 }) }
        }
        // The unseen family has more high-frequency content: mean |B[i,j+1] − B[i,j]|.
        func roughness(_ x: Tensor<Double>) -> Double {
            var total = 0.0
            for p in stride(from: 1, to: x.count - 2, by: 2) { total += abs(x.scalars[p + 2] - x.scalars[p]) }
            return total
        }
        let random = GrayScottInitialCondition.random.states(batch: 4, size: 64, seed: 1)
        let unseen = GrayScottInitialCondition.unseen.states(batch: 4, size: 64, seed: 1)
        #expect(roughness(unseen) > 3 * roughness(random))
    }

    /// The authors' binary states, cell by cell against the construction written out as loops.
    @Test func paperInitialConditionsMatchTheConstruction() {
        let blocks: [[(Int, Int, Int, Int)]] = [
            [(24, 39, 24, 39)],
            [(16, 23, 16, 23), (48, 55, 48, 55), (10, 29, 34, 53), (34, 53, 10, 29)],
            [(30, 33, 0, 63), (40, 43, 30, 33), (20, 23, 24, 39)],
            [(4, 23, 16, 23), (42, 45, 40, 59), (16, 23, 40, 47), (40, 47, 16, 23)],
        ]
        let x = GrayScottInitialCondition.paper.states(batch: 5, size: 64, seed: 9)
        #expect(x == GrayScottInitialCondition.paper.states(batch: 5, size: 64, seed: 1), "no randomness")
        var expected = [Double](repeating: 0, count: 5 * 64 * 64 * 2)
        for r in 0..<5 {
            for i in 0..<64 {
                for j in 0..<64 {
                    var b = 0.0
                    for (i0, i1, j0, j1) in blocks[r % 4] where i >= i0 && i <= i1 && j >= j0 && j <= j1 { b = 1 }
                    expected[((r * 64 + i) * 64 + j) * 2] = 1 - b
                    expected[((r * 64 + i) * 64 + j) * 2 + 1] = b
                }
            }
        }
        #expect(x.scalars == expected)
        let test = GrayScottInitialCondition.paperTest.states(batch: 1, size: 64, seed: 0)
        var seeded = 0
        for i in 0..<64 {
            for j in 0..<64 {
                let b = (i >= 16 && i <= 31 && j >= 16 && j <= 31) || (i >= 48 && j % 8 < 4)
                #expect(test.scalars[(i * 64 + j) * 2 + 1] == (b ? 1 : 0) && test.scalars[(i * 64 + j) * 2] == (b ? 0 : 1))
                if b { seeded += 1 }
            }
        }
        #expect(seeded == 256 + 16 * 32)
        // Another lattice size samples the 64 × 64 layout: at 32 every other grid cell.
        let half = GrayScottInitialCondition.paperTest.states(batch: 1, size: 32, seed: 0)
        for i in 0..<32 {
            for j in 0..<32 { #expect(half.scalars[(i * 32 + j) * 2 + 1] == test.scalars[(2 * i * 64 + 2 * j) * 2 + 1]) }
        }
    }

    @Test func measurementNoiseInterpolates() {
        let y: Tensor<Double> = randomTensor([2, 4, 4, 2], seed: 9, in: 0.2...0.6)
        var clean = y
        addMeasurementNoise(&clean, intensity: 0, seed: 1)
        #expect(clean == y)
        var pure = y
        addMeasurementNoise(&pure, intensity: 1, seed: 1)
        let (lo, hi) = (y.scalars.min()!, y.scalars.max()!)
        #expect(pure.scalars.allSatisfy { $0 >= lo && $0 <= hi })
        var half = y
        addMeasurementNoise(&half, intensity: 0.5, seed: 1)
        for i in y.scalars.indices { #expect(abs(half.scalars[i] - (0.5 * y.scalars[i] + 0.5 * pure.scalars[i])) < 1e-15) }
    }

    /// An independent numpy solver (np.roll stencil) agrees with the generator (needs python3 with
    /// numpy; `.ci/run` sets NCA_PYTHON_INTEROP=1).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["NCA_PYTHON_INTEROP"] != nil))
    func numpySolverAgrees() throws {
        let dir = temporaryFolder()
        let initial = GrayScottInitialCondition.random.states(batch: 2, size: 24, seed: 3)
        try NPY.write(initial, to: dir + "/x0.npy")
        let ours = GrayScott().trajectory(from: initial, steps: 200, timeSampling: 50)
        let script = """
            import sys, numpy as np
            d = sys.argv[1]
            x = np.load(d + "/x0.npy"); A, B = x[..., 0].copy(), x[..., 1].copy()
            def lap(f):
                r = lambda di, dj: np.roll(np.roll(f, -di, axis=1), -dj, axis=2)
                return (r(-1,-1) + r(-1,1) + r(1,-1) + r(1,1) + 2*(r(-1,0) + r(1,0) + r(0,-1) + r(0,1)) - 12*f) / 4
            frames = [np.stack([A, B], -1)]
            for n in range(1, 201):
                R = A * B * B
                A, B = A + 0.1*lap(A) - R + 0.0623*(1 - A), B + 0.05*lap(B) + R - (0.06268 + 0.0623)*B
                if n % 50 == 0: frames.append(np.stack([A, B], -1))
            np.save(d + "/numpy.npy", np.stack(frames))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let theirs = try NPY.read(dir + "/numpy.npy")
        #expect(theirs.shape == ours.shape)
        #expect(maxAbsDifference(theirs.values, ours.scalars) < 1e-12)
    }
}
