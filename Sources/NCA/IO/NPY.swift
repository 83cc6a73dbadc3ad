import Foundation

/// Element types the toolkit reads and writes in array files.
public enum DType: String, CaseIterable, Codable, Sendable {
    /// Little-endian IEEE single precision, `<f4`.
    case float32
    /// Little-endian IEEE double precision, `<f8`.
    case float64

    /// Bytes per element.
    public var byteWidth: Int { self == .float32 ? 4 : 8 }
}

/// A numeric array as stored in a file: shape, element type and values (kept in Double, which
/// holds every float32 and float64 value exactly).
public struct ArrayFile: Equatable, Sendable {
    /// The array's shape (C order).
    public var shape: [Int]
    /// The element type on disk.
    public var dtype: DType
    /// The elements, widened to Double, in C order.
    public var values: [Double]

    /// An array of `shape` with `values` stored as `dtype`.
    public init(shape: [Int], dtype: DType, values: [Double]) {
        precondition(Tensor<Double>.elementCount(shape) == values.count, "ArrayFile: shape \(shape) ≠ \(values.count) values")
        self.shape = shape
        self.dtype = dtype
        self.values = values
    }

    /// The array of `tensor`, stored in its own precision.
    public init<T: BLASScalar>(_ tensor: Tensor<T>) {
        self.init(shape: tensor.shape, dtype: T.byteWidth == 4 ? .float32 : .float64, values: tensor.scalars.map { Double($0) })
    }

    /// The array as a tensor of `T`.
    public func tensor<T: BLASScalar>(as: T.Type = T.self) -> Tensor<T> {
        Tensor(shape: shape, scalars: values.map { T($0) })
    }
}

/// NumPy's `.npy` format (versions 1.0, 2.0 and 3.0 read; 1.0 written, 2.0 when the header
/// needs it): little-endian float32/float64 in C order.
///
/// Layout: the magic `\x93NUMPY`, major and minor version bytes, a header length (2 bytes in
/// v1, 4 in v2/v3, little-endian), an ASCII Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a
/// newline so the data starts on a 64-byte boundary, then the data.
public enum NPY {
    /// Largest element count accepted on reading (2³¹, 16 GiB of float64): larger shapes are
    /// refused before any allocation.
    public static let maxElements = 1 << 31

    /// Reads a float32 or float64 `.npy` file (format versions 1–3); refuses other element types,
    /// big-endian or Fortran-order data and damaged files with a message that names the fix.
    public static func read(_ path: String) throws -> ArrayFile {
        let data = try AtomicFile.read(path)
        return try decode(data, path: path)
    }

    /// Writes `array` atomically to `path`.
    public static func write(_ array: ArrayFile, to path: String) throws {
        try AtomicFile.write(encode(array), to: path)
    }

    /// Writes `tensor` atomically to `path`, in its own precision.
    public static func write<T: BLASScalar>(_ tensor: Tensor<T>, to path: String) throws {
        try write(ArrayFile(tensor), to: path)
    }

    /// The bytes `numpy.save` writes for `array`.
    public static func encode(_ array: ArrayFile) -> Data {
        let shapeText: String
        switch array.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(array.shape[0]),)"
        default: shapeText = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        }
        let descr = array.dtype == .float32 ? "<f4" : "<f8"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let version: UInt8 = header.utf8.count + 11 > 65535 ? 2 : 1
        let prefix = version == 1 ? 10 : 12
        let total = (prefix + header.utf8.count + 1 + 63) / 64 * 64
        header += String(repeating: " ", count: total - prefix - header.utf8.count - 1) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
        let length = header.utf8.count
        if version == 1 {
            data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        } else {
            data.append(contentsOf: (0..<4).map { UInt8((length >> (8 * $0)) & 0xff) })
        }
        data.append(contentsOf: Array(header.utf8))
        data.reserveCapacity(data.count + array.values.count * array.dtype.byteWidth)
        switch array.dtype {
        case .float32:
            array.values.map { Float($0).bitPattern.littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
        case .float64:
            array.values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Parses `.npy` bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String = "<data>") throws(FileError) -> ArrayFile {
        func fail(_ problem: String) -> FileError { FileError.invalid(path: path, problem: problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file (wrong magic bytes); save arrays with numpy.save")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major).\(bytes[7]); re-save with numpy.save")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated .npy header") }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .ascii)
        else { throw fail("the .npy header is not text") }
        let fields = try parseHeader(header, fail: fail)
        let dtype: DType
        switch fields.descr {
        case "<f4": dtype = .float32
        case "<f8": dtype = .float64
        case ">f4", ">f8":
            throw fail("big-endian data ('\(fields.descr)'); convert with arr.astype('<f4') before saving")
        default:
            throw fail("unsupported dtype '\(fields.descr)'; save as float32 or float64 (arr.astype('float32'))")
        }
        guard !fields.fortranOrder else {
            throw fail("Fortran-order array; save a C-order copy with numpy.ascontiguousarray(arr)")
        }
        var count = 1
        for extent in fields.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= maxElements else {
                throw fail("shape \(fields.shape) is too large (more than \(maxElements) elements)")
            }
            count = product
        }
        let dataStart = headerStart + headerLength
        let expected = count * dtype.byteWidth
        let available = bytes.count - dataStart
        guard available >= expected else {
            throw fail("truncated: shape \(fields.shape) needs \(expected) bytes of data, the file has \(available)")
        }
        guard available == expected else {
            throw fail("\(available - expected) unexpected bytes after the data for shape \(fields.shape)")
        }
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            switch dtype {
            case .float32:
                for i in 0..<count {
                    values[i] = Double(
                        Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                }
            case .float64:
                for i in 0..<count {
                    values[i] = Double(
                        bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                }
            }
        }
        return ArrayFile(shape: fields.shape, dtype: dtype, values: values)
    }

    /// Reads the three keys of the header dict literal.
    private static func parseHeader(_ header: String, fail: (String) -> FileError) throws(FileError)
        -> (descr: String, fortranOrder: Bool, shape: [Int])
    {
        func value(of key: String) -> Substring? {
            for quote in ["'", "\""] {
                if let range = header.range(of: quote + key + quote) {
                    let rest = header[range.upperBound...].drop(while: { $0 == " " })
                    guard rest.first == ":" else { return nil }
                    return rest.dropFirst().drop(while: { $0 == " " })
                }
            }
            return nil
        }
        guard let descrText = value(of: "descr"), let quote = descrText.first, quote == "'" || quote == "\"",
            let end = descrText.dropFirst().firstIndex(of: quote)
        else { throw fail("malformed .npy header: no 'descr'") }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<end])
        guard let fortranText = value(of: "fortran_order") else { throw fail("malformed .npy header: no 'fortran_order'") }
        let fortran: Bool
        if fortranText.hasPrefix("False") {
            fortran = false
        } else if fortranText.hasPrefix("True") {
            fortran = true
        } else {
            throw fail("malformed .npy header: bad 'fortran_order'")
        }
        guard let shapeText = value(of: "shape"), shapeText.first == "(", let close = shapeText.firstIndex(of: ")") else {
            throw fail("malformed .npy header: no 'shape'")
        }
        var shape: [Int] = []
        for part in shapeText[shapeText.index(after: shapeText.startIndex)..<close].split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if trimmed.isEmpty { continue }
            guard let extent = Int(trimmed), extent >= 0 else {
                throw fail("malformed .npy header: bad shape entry '\(trimmed)'")
            }
            shape.append(extent)
        }
        return (descr, fortran, shape)
    }
}
