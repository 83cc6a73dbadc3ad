/// A reusable, manually sized scratch buffer for the hot loops.
///
/// Allocated once, at its final size, so that a step loop does no allocation.
public final class Buffer<Scalar: BLASScalar> {
    /// The storage, `capacity` elements, zeroed at creation.
    public let pointer: UnsafeMutablePointer<Scalar>
    /// Elements the buffer holds (at least 1).
    public let capacity: Int

    /// A buffer of `capacity` zeros.
    public init(capacity: Int = 0) {
        self.capacity = max(1, capacity)
        pointer = .allocate(capacity: self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Sets the first `count` elements to `value`.
    public func fill(_ value: Scalar, count: Int) {
        precondition(count <= capacity, "Buffer.fill: count \(count) exceeds capacity \(capacity)")
        pointer.update(repeating: value, count: count)
    }
}
