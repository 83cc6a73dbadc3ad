import Foundation

/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …,
/// "__metadata__": {"key": "value"}}` (padded with spaces to a multiple of 8), then the tensor
/// bytes, little-endian, C order, offsets relative to the end of the header. F32 and F64 only.
public struct Safetensors: Equatable, Sendable {
    /// The tensors by name.
    public var tensors: [String: ArrayFile]
    /// The `__metadata__` strings.
    public var metadata: [String: String]

    /// Largest header accepted (the reference implementation's limit is 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// A file of `tensors` with `metadata`.
    public init(tensors: [String: ArrayFile], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Reads a `.safetensors` file.
    public static func read(_ path: String) throws -> Safetensors {
        try decode(AtomicFile.read(path), path: path)
    }

    /// Writes the file atomically to `path`.
    public func write(to path: String) throws {
        try AtomicFile.write(encode(), to: path)
    }

    /// Tensors are laid out in name order; the header keys are sorted, so equal contents give
    /// equal bytes.
    public func encode() -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let array = tensors[name]!
            let length = array.values.count * array.dtype.byteWidth
            header[name] = [
                "dtype": array.dtype == .float32 ? "F32" : "F64", "shape": array.shape,
                "data_offsets": [offset, offset + length],
            ]
            offset += length
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var data = Data((0..<8).map { UInt8((UInt64(json.count) >> (8 * UInt64($0))) & 0xff) })
        data.append(json)
        for name in names {
            let array = tensors[name]!
            switch array.dtype {
            case .float32: array.values.map { Float($0).bitPattern.littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
            case .float64: array.values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// Parses safetensors bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String = "<data>") throws(FileError) -> Safetensors {
        func fail(_ problem: String) -> FileError { FileError.invalid(path: path, problem: problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw fail("too short to be a .safetensors file (\(bytes.count) bytes)") }
        let declared = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard declared <= UInt64(maxHeaderBytes), Int(declared) <= bytes.count - 8 else {
            throw fail("bad header length \(declared) for a file of \(bytes.count) bytes; the file is corrupt or not safetensors")
        }
        let headerLength = Int(declared)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)]))
        } catch {
            throw fail("the header is not valid JSON; the file is corrupt or not safetensors")
        }
        guard let header = object as? [String: Any] else { throw fail("the header is not a JSON object") }
        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart
        var tensors: [String: ArrayFile] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let map = entry as? [String: Any] else { throw fail("__metadata__ is not an object of strings") }
                for (key, value) in map {
                    guard let text = value as? String else { throw fail("__metadata__ value for '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let info = entry as? [String: Any], let dtypeName = info["dtype"] as? String,
                let shapeValues = info["shape"] as? [Any], let offsetValues = info["data_offsets"] as? [Any],
                offsetValues.count == 2
            else { throw fail("tensor '\(name)' lacks dtype, shape or data_offsets") }
            let dtype: DType
            switch dtypeName {
            case "F32": dtype = .float32
            case "F64": dtype = .float64
            default: throw fail("tensor '\(name)' has dtype \(dtypeName); only F32 and F64 are supported")
            }
            guard let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }),
                let offsets = integers(offsetValues), offsets[0] >= 0, offsets[0] <= offsets[1]
            else { throw fail("tensor '\(name)' has a malformed shape or data_offsets") }
            var count = 1
            for extent in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                guard !overflow, product <= NPY.maxElements else { throw fail("tensor '\(name)' shape \(shape) is too large") }
                count = product
            }
            guard offsets[1] <= dataLength else {
                throw fail(
                    "tensor '\(name)' data_offsets \(offsets) lie beyond the \(dataLength) data bytes; the file is truncated")
            }
            guard offsets[1] - offsets[0] == count * dtype.byteWidth else {
                throw fail(
                    "tensor '\(name)' has \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtypeName) needs \(count * dtype.byteWidth)"
                )
            }
            var values = [Double](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                let base = raw.baseAddress! + dataStart + offsets[0]
                for i in 0..<count {
                    values[i] =
                        dtype == .float32
                        ? Double(
                            Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                        : Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                }
            }
            tensors[name] = ArrayFile(shape: shape, dtype: dtype, values: values)
        }
        return Safetensors(tensors: tensors, metadata: metadata)
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), double >= 0, double <= Double(Int.max / 2) else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}
