import Foundation
import Testing

@testable import NCA

@Suite("Worker pool")
struct WorkerPoolTests {
    /// Each worker bumps its own slot; `run` returning orders those writes before the reads.
    final class Counting: ParallelJob, @unchecked Sendable {
        let counts: UnsafeMutablePointer<Int>
        init(workers: Int) {
            counts = .allocate(capacity: workers)
            counts.initialize(repeating: 0, count: workers)
        }
        deinit { counts.deallocate() }
        func perform(worker: Int) { counts[worker] += 1 }
    }

    @Test("every worker runs every job exactly once, whether its thread spins or sleeps between jobs")
    func everyWorkerRunsEveryJobOnce() {
        for workers in [1, 2, 3, 5] {
            let pool = WorkerPool(count: workers)
            let job = Counting(workers: workers)
            let runs = 300
            for r in 0..<runs {
                pool.run(job)
                // Every tenth gap is long enough for the helpers to fall asleep.
                if r % 10 == 0 { usleep(2_000) }
                for w in 0..<workers {
                    #expect(job.counts[w] == r + 1, "workers \(workers), run \(r), worker \(w)")
                }
            }
        }
    }
}
