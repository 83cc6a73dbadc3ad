import Foundation
import RealModule

extension LossFunction {
    /// `projectionCount` unit vectors in `dimension` dimensions, Gaussian directions from `seed`.
    static func directions(dimension: Int, seed: UInt64) -> [[Double]] {
        var rng = RandomGenerator(seed: seed, stream: .lossProjections)
        return (0..<projectionCount).map { _ in
            while true {
                // Standard normal components (Box–Muller): a uniformly distributed direction.
                let v = (0..<dimension).map { _ in
                    (-2 * Double.log(1 - rng.nextUnit())).squareRoot() * Double.cos(2 * Double.pi * rng.nextUnit())
                }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 1e-12 { return v.map { $0 / norm } }
            }
        }
    }

    /// Sliced Wasserstein: for every direction θ, the cells' projections a = x·θ and b = y·θ are
    /// sorted and compared rank by rank, (1/N) Σ_j (a_(j) − b_(j))²; averaged over directions.
    /// Only a's order is needed (for the gradient); b is sorted as values, or read in the order
    /// kept for its frame (the same values: a projection is computed the same way either way).
    func sliced<T>(_ e: Entry<T>, batch: Int, directions: [[Double]]) -> Double {
        let n = e.cells
        let o = e.o
        let weight = 1 / Double(batch * directions.count * n)
        var loss = 0.0
        let scratch = SlicedScratch.take(cells: n, observables: o)
        defer { SlicedScratch.give(scratch) }
        let (a, b, dX, orderA) = (scratch.a, scratch.b, scratch.dX, scratch.orderA)
        dX.initialize(repeating: 0)
        let kept = e.orders.flatMap { $0.0.orders(of: $0.frame) }
        let filling = kept == nil ? e.orders.flatMap { $0.0.reserve($0.frame) } : nil
        for (d, theta) in directions.enumerated() {
            for i in 0..<n {
                var pa = 0.0
                for ch in 0..<o { pa += Double(e.x[i * e.c + ch]) * theta[ch] }
                a[i] = pa
            }
            if let kept {
                for j in 0..<n { b[j] = projection(e.y, cell: Int(kept[d * n + j]), e.tc, o, theta) + 0 }
            } else {
                for i in 0..<n { b[i] = projection(e.y, cell: i, e.tc, o, theta) }
                if let filling {
                    scratch.ranks.argsort(UnsafeBufferPointer(b), into: scratch.orderB)
                    for j in 0..<n {
                        filling[d * n + j] = UInt16(scratch.orderB[j])
                        scratch.sortedB[j] = b[Int(scratch.orderB[j])] + 0
                    }
                    b.baseAddress!.update(from: scratch.sortedB.baseAddress!, count: n)
                } else {
                    scratch.ranks.sort(b)
                }
            }
            // Ties keep the cell order, so the subgradient is well defined.
            scratch.ranks.argsort(UnsafeBufferPointer(a), into: orderA)
            for rank in 0..<n {
                let cell = Int(orderA[rank])
                let d = a[cell] - b[rank]
                loss += weight * d * d
                for ch in 0..<o { dX[cell * o + ch] += weight * 2 * d * theta[ch] }
            }
        }
        if let filling, let (orders, frame) = e.orders { orders.publish(filling, frame: frame) }
        for i in 0..<n {
            for ch in 0..<o { e.g[i * e.c + ch] = T(dX[i * o + ch]) }
        }
        return loss
    }

    /// y(cell)·θ over the first `o` of `tc` channels, summed in channel order.
    @inline(__always)
    private func projection<T: BLASScalar>(_ y: UnsafePointer<T>, cell: Int, _ tc: Int, _ o: Int, _ theta: [Double]) -> Double {
        var p = 0.0
        for ch in 0..<o { p += Double(y[cell * tc + ch]) * theta[ch] }
        return p
    }
}

/// The sorted order of each training target's projections along the sliced Wasserstein
/// directions, kept across epochs: the targets are the same every epoch, and sorting them is half
/// of the loss's work (a Trainer keeps one when its data do not change between epochs). Lattices
/// of up to 65 536 cells; 2 bytes per cell and direction of each frame kept, up to `budget` bytes
/// in all (frames beyond it are sorted on every use). Thread-safe.
public final class SlicedTargetOrders: @unchecked Sendable {
    /// 1 GiB: every target of the Gray-Scott recipe at t = 1 (4 096 frames of 64 × 64 cells) fits.
    public static let defaultBudget = 1 << 30
    /// Cells per lattice.
    public let cells: Int
    /// The directions the orders belong to.
    let directions: [[Double]]
    private let frames: Int
    private let slots: UnsafeMutablePointer<UnsafeMutablePointer<UInt16>?>
    private let lock = NSLock()
    private var reserved = 0
    private let budget: Int

    /// Room for `frames` targets of `cells` cells and `observables` channels, with the directions
    /// of `seed`; nil for lattices of more than 65 536 cells.
    public init?(frames: Int, cells: Int, observables: Int, seed: UInt64, budget: Int = defaultBudget) {
        guard frames > 0 && cells > 0 && cells <= 1 << 16 else { return nil }
        self.frames = frames
        self.cells = cells
        self.budget = budget
        directions = LossFunction.directions(dimension: observables, seed: seed)
        slots = .allocate(capacity: frames)
        slots.initialize(repeating: nil, count: frames)
    }

    deinit {
        for i in 0..<frames { slots[i]?.deallocate() }
        slots.deallocate()
    }

    private var frameSize: Int { LossFunction.projectionCount * cells }

    /// The orders of `frame` (direction by direction, `cells` each), if kept.
    func orders(of frame: Int) -> UnsafePointer<UInt16>? {
        precondition(frame >= 0 && frame < frames, "SlicedTargetOrders: frame \(frame) of \(frames)")
        return lock.withLock { slots[frame].map { UnsafePointer($0) } }
    }

    /// Room to fill with `frame`'s orders, within the budget; nil when there is none.
    func reserve(_ frame: Int) -> UnsafeMutablePointer<UInt16>? {
        let bytes = frameSize * MemoryLayout<UInt16>.size
        let granted = lock.withLock {
            guard slots[frame] == nil && reserved + bytes <= budget else { return false }
            reserved += bytes
            return true
        }
        return granted ? .allocate(capacity: frameSize) : nil
    }

    /// Keeps `orders` (from `reserve`, filled) as `frame`'s; a frame kept meanwhile by another
    /// caller keeps its own.
    func publish(_ orders: UnsafeMutablePointer<UInt16>, frame: Int) {
        let bytes = frameSize * MemoryLayout<UInt16>.size
        let kept = lock.withLock {
            if slots[frame] != nil {
                reserved -= bytes
                return false
            }
            slots[frame] = orders
            return true
        }
        if !kept { orders.deallocate() }
    }
}

/// Buffers of one sliced Wasserstein entry, kept between calls: fresh buffers of this size on
/// every entry of every compared frame cost page faults (5 % of a t = 1 epoch) besides the
/// allocation. Taken and given back under a lock, so concurrent entries get their own.
private final class SlicedScratch: @unchecked Sendable {
    let cells: Int
    let observables: Int
    let a: UnsafeMutableBufferPointer<Double>
    let b: UnsafeMutableBufferPointer<Double>
    let dX: UnsafeMutableBufferPointer<Double>
    let orderA: UnsafeMutableBufferPointer<Int32>
    /// For a target whose order is being kept: its order and its sorted values.
    let orderB: UnsafeMutableBufferPointer<Int32>
    let sortedB: UnsafeMutableBufferPointer<Double>
    let ranks: RankOrder

    private init(cells: Int, observables: Int) {
        self.cells = cells
        self.observables = observables
        a = .allocate(capacity: cells)
        b = .allocate(capacity: cells)
        dX = .allocate(capacity: cells * observables)
        orderA = .allocate(capacity: cells)
        orderB = .allocate(capacity: cells)
        sortedB = .allocate(capacity: cells)
        ranks = RankOrder(capacity: cells)
    }

    deinit {
        a.deallocate()
        b.deallocate()
        dX.deallocate()
        orderA.deallocate()
        orderB.deallocate()
        sortedB.deallocate()
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var idle: [SlicedScratch] = []

    /// Buffers for `cells` cells of `observables` channels: an idle one of that size, or new.
    static func take(cells: Int, observables: Int) -> SlicedScratch {
        lock.lock()
        defer { lock.unlock() }
        if let i = idle.lastIndex(where: { $0.cells == cells && $0.observables == observables }) {
            return idle.remove(at: i)
        }
        return SlicedScratch(cells: cells, observables: observables)
    }

    /// Returns `scratch` for reuse; a few are kept (one per concurrent entry at most).
    static func give(_ scratch: SlicedScratch) {
        lock.lock()
        defer { lock.unlock() }
        idle.append(scratch)
        if idle.count > 2 * ProcessInfo.processInfo.activeProcessorCount { idle.removeFirst() }
    }
}
