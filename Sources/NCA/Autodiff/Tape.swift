/// An append-only record of a forward pass, walked in reverse by the backward pass.
///
/// Each entry holds what one step's pullback needs (for the engine: its input and its mask).
/// Entries are reference types whose buffers are kept between passes: `reset()` only rewinds the
/// count, so a second pass of the same length allocates nothing.
public struct Tape<Record: AnyObject> {
    private var storage: [Record] = []
    /// Number of entries recorded since the last `reset()`.
    public private(set) var count = 0

    /// An empty tape.
    public init() {}

    /// Forgets the recorded entries but keeps their storage for reuse.
    public mutating func reset() { count = 0 }

    /// The next entry to fill: a recycled one when available, otherwise `make()`.
    public mutating func append(orMake make: () -> Record) -> Record {
        if count == storage.count { storage.append(make()) }
        count += 1
        return storage[count - 1]
    }

    /// Entry `index` (0 = first recorded).
    public subscript(index: Int) -> Record {
        precondition(index >= 0 && index < count, "Tape: index \(index) outside 0..<\(count)")
        return storage[index]
    }

    /// Visits the recorded entries last first: the order of the backward pass. (An index loop:
    /// a collection iterator allocates per element in unoptimised builds.)
    public func forEachReversed(_ body: (Record) -> Void) {
        var index = count - 1
        while index >= 0 {
            body(storage[index])
            index -= 1
        }
    }
}
