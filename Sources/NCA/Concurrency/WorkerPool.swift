import CKernels
import Foundation
import Synchronization

/// Work split over a `WorkerPool`: `perform(worker:)` is called once for every worker index.
protocol ParallelJob: AnyObject {
    func perform(worker: Int)
}

/// A fixed set of threads that run one job at a time, for the engine's per-step parallel work.
///
/// `run(job)` calls job.perform(worker: 0) on the calling thread and workers 1 … count − 1 on
/// the pool's threads, returning when all are done. Unlike `DispatchQueue.concurrentPerform`
/// or a closure-based pool it allocates nothing per call, so a step loop stays allocation-free.
///
/// A step of a small lattice takes tens of microseconds, as long as waking a sleeping thread,
/// so hand-overs spin first: a job is published by bumping an atomic generation counter that
/// idle helpers watch for about 100 µs before they go to sleep on their semaphore; the caller
/// spins on a countdown of unfinished helpers (yielding the CPU after a while). A helper going
/// to sleep and the caller waking it agree through an atomic flag, so no wake-up is lost.
/// Threads are started once and stopped when the pool is released.
final class WorkerPool: @unchecked Sendable {
    let count: Int
    private let shared: Shared

    /// Spins of an idle helper (each a CPU `pause`) before it sleeps.
    static let helperSpins = 2_000
    /// Spins of the waiting caller before it starts yielding its CPU between checks.
    static let callerSpins = 20_000

    /// One helper's sleep flag and wake-up semaphore.
    private final class Helper: Sendable {
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    /// The state the helper threads see (they do not retain the pool, so it can be released).
    private final class Shared: @unchecked Sendable {
        var job: ParallelJob?
        let generation = Atomic<Int>(0)
        let remaining = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        let helpers: [Helper]

        init(helpers: Int) { self.helpers = (0..<helpers).map { _ in Helper() } }

        /// Wakes helper k if it is asleep (or about to sleep).
        func wake(_ k: Int) {
            if helpers[k].sleeping.exchange(false, ordering: .sequentiallyConsistent) { helpers[k].wake.signal() }
        }
    }

    init(count: Int) {
        precondition(count >= 1, "WorkerPool: count must be positive")
        self.count = count
        shared = Shared(helpers: count - 1)
        for index in 1..<max(1, count) {
            let shared = self.shared
            let thread = Thread { WorkerPool.helperLoop(shared, index: index) }
            thread.name = "nca-worker-\(index)"
            thread.start()
        }
    }

    deinit {
        shared.stopping.store(true, ordering: .sequentiallyConsistent)
        shared.generation.add(1, ordering: .sequentiallyConsistent)
        for k in shared.helpers.indices { shared.wake(k) }
    }

    private static func helperLoop(_ shared: Shared, index: Int) {
        let helper = shared.helpers[index - 1]
        var seen = 0
        while true {
            var spins = 0
            while shared.generation.load(ordering: .sequentiallyConsistent) == seen {
                if spins < helperSpins {
                    spins += 1
                    nca_spin_pause()
                    continue
                }
                // Go to sleep, unless a job (or the stop) arrived in the meantime.
                helper.sleeping.store(true, ordering: .sequentiallyConsistent)
                if shared.generation.load(ordering: .sequentiallyConsistent) != seen {
                    // Withdraw the flag; if the caller took it first, its signal is on the way.
                    if !helper.sleeping.exchange(false, ordering: .sequentiallyConsistent) { helper.wake.wait() }
                    break
                }
                helper.wake.wait()
                spins = 0
            }
            if shared.stopping.load(ordering: .sequentiallyConsistent) { return }
            seen = shared.generation.load(ordering: .sequentiallyConsistent)
            shared.job!.perform(worker: index)
            shared.remaining.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Runs job.perform(worker: i) for i in 0..<count, concurrently, and waits for all of them.
    func run(_ job: ParallelJob) {
        guard count > 1 else {
            job.perform(worker: 0)
            return
        }
        shared.job = job
        shared.remaining.store(count - 1, ordering: .sequentiallyConsistent)
        shared.generation.add(1, ordering: .sequentiallyConsistent)
        var k = 0
        while k < count - 1 {
            shared.wake(k)
            k += 1
        }
        job.perform(worker: 0)
        var spins = 0
        while shared.remaining.load(ordering: .sequentiallyConsistent) > 0 {
            if spins < WorkerPool.callerSpins {
                spins += 1
                nca_spin_pause()
            } else {
                sched_yield()
            }
        }
        shared.job = nil
    }
}
