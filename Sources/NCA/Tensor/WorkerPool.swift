import Foundation

/// Work split over a `WorkerPool`: `perform(worker:)` is called once for every worker index.
protocol ParallelJob: AnyObject {
    func perform(worker: Int)
}

/// A fixed set of threads that run one job at a time, for the engine's per-step parallel work.
///
/// `run(job)` calls job.perform(worker: 0) on the calling thread and workers 1 … count − 1 on
/// the pool's threads, returning when all are done. Unlike `DispatchQueue.concurrentPerform`
/// or a closure-based pool it allocates nothing per call, so a step loop stays allocation-free.
/// Threads are started once and stopped when the pool is released.
final class WorkerPool: @unchecked Sendable {
    let count: Int
    private let shared: Shared

    /// The state the helper threads see (they do not retain the pool, so it can be released).
    private final class Shared: @unchecked Sendable {
        var job: ParallelJob?
        var stopping = false
        let start: [DispatchSemaphore]
        let done = DispatchSemaphore(value: 0)

        init(helpers: Int) { start = (0..<helpers).map { _ in DispatchSemaphore(value: 0) } }
    }

    init(count: Int) {
        precondition(count >= 1, "WorkerPool: count must be positive")
        self.count = count
        shared = Shared(helpers: count - 1)
        for index in 1..<max(1, count) {
            let shared = self.shared
            let thread = Thread {
                while true {
                    shared.start[index - 1].wait()
                    if shared.stopping { return }
                    shared.job!.perform(worker: index)
                    shared.done.signal()
                }
            }
            thread.name = "nca-worker-\(index)"
            thread.start()
        }
    }

    deinit {
        shared.stopping = true
        for semaphore in shared.start { semaphore.signal() }
    }

    /// Runs job.perform(worker: i) for i in 0..<count, concurrently, and waits for all of them.
    func run(_ job: ParallelJob) {
        guard count > 1 else {
            job.perform(worker: 0)
            return
        }
        shared.job = job
        var k = 0
        while k < count - 1 {
            shared.start[k].signal()
            k += 1
        }
        job.perform(worker: 0)
        for _ in 1..<count { shared.done.wait() }
        shared.job = nil
    }
}
