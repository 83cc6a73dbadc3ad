/// Stable ordering of Double values by a least-significant-digit radix sort: O(n) where the
/// standard library's comparison sort is O(n log n) through a closure. The sliced Wasserstein
/// loss sorts every cell's projection along every direction at every compared frame, which makes
/// the sort most of its cost (a perf profile of a Gray-Scott epoch at t = 1 before this version:
/// 43 % in sorting, with flat regions of the state giving long runs of equal values).
///
/// Each value becomes a 64-bit key whose unsigned order is the numeric order; six passes of
/// 11-bit digits sort by the whole key, and a pass is skipped when every key has the same digit
/// there (the sign and exponent bits of values of one magnitude). A radix sort is stable, so the
/// result is exactly `(0..<n).sorted { v[$0] < v[$1] || (v[$0] == v[$1] && $0 < $1) }` for
/// values without NaN (−0 and +0 compare equal), without a pass of its own for ties.
final class RankOrder {
    private static let digitBits = 11
    private static let buckets = 1 << digitBits
    /// ⌈64 / 11⌉: the last pass sorts by the top 9 bits.
    private static let passes = 6

    private let capacity: Int
    private let keys: UnsafeMutablePointer<UInt64>
    private let scratchKeys: UnsafeMutablePointer<UInt64>
    private let indices: UnsafeMutablePointer<Int32>
    private let scratchIndices: UnsafeMutablePointer<Int32>
    private let counts: UnsafeMutablePointer<Int32>

    /// Scratch for sorting up to `capacity` values.
    init(capacity: Int) {
        precondition(capacity >= 0 && capacity <= Int(Int32.max), "RankOrder: capacity \(capacity)")
        self.capacity = capacity
        keys = .allocate(capacity: max(capacity, 1))
        scratchKeys = .allocate(capacity: max(capacity, 1))
        indices = .allocate(capacity: max(capacity, 1))
        scratchIndices = .allocate(capacity: max(capacity, 1))
        counts = .allocate(capacity: Self.passes * Self.buckets)
    }

    deinit {
        keys.deallocate()
        scratchKeys.deallocate()
        indices.deallocate()
        scratchIndices.deallocate()
        counts.deallocate()
    }

    /// A key whose unsigned order is the numeric order of `value`: positive numbers get the
    /// sign bit set, negative numbers all bits flipped.
    @inline(__always) static func key(_ value: Double) -> UInt64 {
        let bits = (value + 0).bitPattern  // −0 + 0 = +0
        return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
    }

    @inline(__always) private static func digit(_ key: UInt64, pass: Int) -> Int {
        Int((key >> UInt64(digitBits * pass)) & UInt64(buckets - 1))
    }

    /// The value whose key is `key` (+0 for −0, which `key` merged with it).
    @inline(__always) static func value(_ key: UInt64) -> Double {
        Double(bitPattern: key & (1 << 63) != 0 ? key & ~(1 << 63) : ~key)
    }

    /// Sorts `values` in place, ascending (−0 becomes +0): the keys alone, without indices, for
    /// the side of a comparison whose order is not needed.
    func sort(_ values: UnsafeMutableBufferPointer<Double>) {
        let n = values.count
        precondition(n <= capacity, "RankOrder: \(n) values for capacity \(capacity)")
        guard n > 0 else { return }
        counts.initialize(repeating: 0, count: Self.passes * Self.buckets)
        for j in 0..<n {
            let k = Self.key(values[j])
            keys[j] = k
            for pass in 0..<Self.passes { counts[pass * Self.buckets + Self.digit(k, pass: pass)] += 1 }
        }
        var (source, target) = (keys, scratchKeys)
        for pass in 0..<Self.passes where prefixSums(pass: pass, first: source[0], count: n) {
            let start = counts + pass * Self.buckets
            for j in 0..<n {
                let k = source[j]
                let d = Self.digit(k, pass: pass)
                target[Int(start[d])] = k
                start[d] += 1
            }
            swap(&source, &target)
        }
        for j in 0..<n { values[j] = Self.value(source[j]) }
    }

    /// Turns pass `pass`'s digit counts into start offsets; false when every key has the digit of
    /// `first` there, so that the pass would leave the order as it is.
    private func prefixSums(pass: Int, first: UInt64, count n: Int) -> Bool {
        let start = counts + pass * Self.buckets
        if Int(start[Self.digit(first, pass: pass)]) == n { return false }
        var offset: Int32 = 0
        for d in 0..<Self.buckets {
            let count = start[d]
            start[d] = offset
            offset += count
        }
        return true
    }

    /// Writes into `order[0..<values.count]` the indices of `values` in ascending order (ties in
    /// index order).
    func argsort(_ values: UnsafeBufferPointer<Double>, into order: UnsafeMutableBufferPointer<Int32>) {
        let n = values.count
        precondition(n <= capacity && order.count >= n, "RankOrder: \(n) values for capacity \(capacity)")
        guard n > 0 else { return }
        counts.initialize(repeating: 0, count: Self.passes * Self.buckets)
        for j in 0..<n {
            let k = Self.key(values[j])
            keys[j] = k
            indices[j] = Int32(j)
            for pass in 0..<Self.passes { counts[pass * Self.buckets + Self.digit(k, pass: pass)] += 1 }
        }
        var (source, target) = ((keys, indices), (scratchKeys, scratchIndices))
        for pass in 0..<Self.passes where prefixSums(pass: pass, first: source.0[0], count: n) {
            let start = counts + pass * Self.buckets
            for j in 0..<n {
                let k = source.0[j]
                let d = Self.digit(k, pass: pass)
                let at = Int(start[d])
                target.0[at] = k
                target.1[at] = source.1[j]
                start[d] += 1
            }
            swap(&source, &target)
        }
        for j in 0..<n { order[j] = source.1[j] }
    }
}
