/// Dense, contiguous, row-major (C-order) storage with a shape.
///
/// States are channels-last, `R × S × S × C` (batch entry, lattice row, lattice column,
/// channel); matrices are rank 2. Storage is a Swift array (copy-on-write), so a tensor is a
/// value; hot loops borrow its buffer with `withUnsafe(Mutable)BufferPointer`.
public struct Tensor<Scalar: BLASScalar>: Equatable, Sendable {
    /// Extent of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Scalar]

    /// A tensor of the given shape holding `scalars` (row-major).
    public init(shape: [Int], scalars: [Scalar]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        precondition(
            Tensor.elementCount(shape) == scalars.count,
            "Tensor: shape \(shape) needs \(Tensor.elementCount(shape)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor filled with `value`.
    public init(shape: [Int], repeating value: Scalar) {
        self.init(shape: shape, scalars: [Scalar](repeating: value, count: Tensor.elementCount(shape)))
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) { self.init(shape: shape, repeating: 0) }

    /// The same values converted to another precision.
    public init<Other: BLASScalar>(converting other: Tensor<Other>) {
        self.init(shape: other.shape, scalars: other.scalars.map { Scalar($0) })
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { scalars.count }

    /// The same scalars viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Product of the extents.
    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Largest absolute value (0 for an empty tensor); NaN if any element is NaN.
    public var maxAbs: Scalar {
        var m: Scalar = 0
        for x in scalars {
            if x.isNaN { return x }
            m = Swift.max(m, Swift.abs(x))
        }
        return m
    }
}
