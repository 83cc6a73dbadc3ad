/// A reusable, manually sized scratch buffer for the hot loops.
///
/// Allocated once and grown only when a larger size is asked for, so that a step loop that has
/// warmed up does no allocation. Contents are unspecified after `reserve` grows the buffer.
public final class Buffer<Scalar: BLASScalar> {
    public private(set) var pointer: UnsafeMutablePointer<Scalar>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(1, capacity)
        pointer = .allocate(capacity: self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Makes room for at least `count` elements (reallocating only when growing).
    public func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        capacity = count
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
    }

    /// Sets the first `count` elements to `value`.
    public func fill(_ value: Scalar, count: Int) {
        precondition(count <= capacity, "Buffer.fill: count \(count) exceeds capacity \(capacity)")
        pointer.update(repeating: value, count: count)
    }
}
