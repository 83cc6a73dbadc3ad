import Foundation
import Testing

@testable import NCA

@Suite("File formats")
struct FileFormatTests {
    @Test func npyReadsNumpyFloat32() throws {
        let a = try NPY.read(fixture("numpy_f32_3d.npy"))
        #expect(a.shape == [3, 4, 2] && a.dtype == .float32)
        for i in 0..<3 {
            for j in 0..<4 {
                for c in 0..<2 {
                    #expect(a.values[(i * 4 + j) * 2 + c] == Double(i * 100 + j * 10 + c) + 0.5)
                }
            }
        }
    }

    @Test func npyReadsNumpyFloat64VersionsOneAndTwo() throws {
        for name in ["numpy_f64_4d.npy", "numpy_f64_v2.npy"] {
            let b = try NPY.read(fixture(name))
            #expect(b.shape == [2, 3, 3, 2] && b.dtype == .float64)
            #expect(b.values == (0..<36).map { Double($0) / 7.0 }, "\(name)")
        }
    }

    @Test func npyRoundTripIsByteIdenticalToNumpy() throws {
        // Our encoder writes what numpy.save writes for the same array.
        let numpyBytes = try Data(contentsOf: URL(fileURLWithPath: fixture("numpy_f64_4d.npy")))
        let decoded = try NPY.decode(numpyBytes)
        #expect(NPY.encode(decoded) == numpyBytes)
        let f32Bytes = try Data(contentsOf: URL(fileURLWithPath: fixture("numpy_f32_3d.npy")))
        #expect(NPY.encode(try NPY.decode(f32Bytes)) == f32Bytes)
    }

    @Test func npyRoundTripThroughDisk() throws {
        let folder = temporaryFolder()
        for shape in [[5], [2, 3], [1, 4, 4, 3], [0, 2], []] {
            let t: Tensor<Float> = randomTensor(shape, seed: 3, in: -5...5)
            try NPY.write(t, to: folder + "/a.npy")
            let back = try NPY.read(folder + "/a.npy")
            #expect(back.shape == shape && back.dtype == .float32)
            #expect(back.tensor(as: Float.self) == t)
        }
        let d: Tensor<Double> = randomTensor([3, 3], seed: 4)
        try NPY.write(d, to: folder + "/d.npy")
        #expect(try NPY.read(folder + "/d.npy").tensor(as: Double.self) == d)
        // A header longer than 65535 bytes switches to format 2.0 and still round-trips.
        let long = ArrayFile(shape: Array(repeating: 1, count: 30_000), dtype: .float64, values: [2.5])
        let encoded = NPY.encode(long)
        #expect(encoded[6] == 2)
        #expect(try NPY.decode(encoded) == long)
        // Data starts on a 64-byte boundary, as numpy writes.
        let small = NPY.encode(ArrayFile(d))
        #expect((small.count - 9 * 8) % 64 == 0)
    }

    static let badNPY: [(String, String)] = [
        ("numpy_fortran.npy", "Fortran-order"), ("numpy_bigendian.npy", "big-endian"),
        ("numpy_int64.npy", "unsupported dtype '<i8'"),
    ]

    @Test("npy refuses numpy files it cannot use", arguments: badNPY)
    func npyRefuses(name: String, message: String) {
        #expect {
            try NPY.read(fixture(name))
        } throws: { error in
            (error as? FileError)?.problem.contains(message) == true
        }
    }

    @Test func npyRefusesCorruptBytes() throws {
        let good = NPY.encode(ArrayFile(shape: [2, 2], dtype: .float32, values: [1, 2, 3, 4]))
        func problem(_ data: Data) -> String {
            do {
                _ = try NPY.decode(data)
                return "accepted"
            } catch { return error.problem }
        }
        #expect(problem(Data("hello world".utf8)).contains("wrong magic"))
        #expect(problem(good.prefix(good.count - 3)).contains("truncated"))
        #expect(problem(good + Data([0])).contains("unexpected bytes"))
        #expect(problem(good.prefix(20)).contains("truncated .npy header"))
        /// A version-1.0 file with a hand-written header.
        func npy(header: String, payload: [UInt8] = [0, 0, 128, 63]) -> Data {
            let text = Array(header.utf8) + [0x0a]
            return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.count & 0xff), UInt8(text.count >> 8)] + text + payload)
        }
        #expect(problem(npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }")) == "accepted")
        #expect(
            problem(npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }")).contains("too large"))
        #expect(
            problem(
                npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576, 1048576, 1048576), }")
            ).contains("too large"))
        #expect(problem(npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")).contains("bad shape entry"))
        #expect(problem(npy(header: "{'descr': '<f4', 'shape': (1,), }")).contains("fortran_order"))
        #expect(problem(npy(header: "garbage")).contains("malformed"))
        var version9 = good
        version9[6] = 9
        #expect(problem(version9).contains("version 9"))
    }

    @Test func safetensorsReadsPythonModel() throws {
        let model: NCAModel<Float> = try ModelFile.read(fixture("safetensors_model.safetensors"))
        let cfg = model.configuration
        #expect(
            cfg
                == ModelConfiguration(
                    channels: 3, observableChannels: 1, kernels: [.identity, .average], activation: .tanh, hiddenSize: 4,
                    boundary: .reflect, skipProbability: 0.25, mask: .element))
        #expect(model.w2.scalars == (0..<24).map { Float($0) / 10 })
        #expect(model.w1.scalars == (0..<12).map { -Float($0) / 20 })
        #expect(model.v.scalars == [0.25, -0.5, 1.0])
        let f64 = try Safetensors.read(fixture("safetensors_f64.safetensors"))
        #expect(f64.tensors["a"] == ArrayFile(shape: [5], dtype: .float64, values: (0..<5).map { Double($0) / 3 }))
        #expect(f64.metadata.isEmpty)
    }

    @Test func modelRoundTrip() throws {
        let folder = temporaryFolder()
        let cfg = ModelConfiguration(
            channels: 5, observableChannels: 3, kernels: [.gradY, .identity], activation: .gelu, hiddenSize: 7,
            boundary: .zero, skipProbability: 0.5, mask: .cell)
        let model: NCAModel<Float> = randomModel(cfg, seed: 9)
        try ModelFile.write(model, to: folder + "/m.safetensors")
        #expect(try ModelFile.read(folder + "/m.safetensors", as: Float.self) == model)
        let double: NCAModel<Double> = randomModel(cfg, seed: 10)
        try ModelFile.write(double, to: folder + "/d.safetensors")
        #expect(try ModelFile.read(folder + "/d.safetensors", as: Double.self) == double)
        // Header is 8-byte aligned, as the format asks.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/m.safetensors"))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
    }

    @Test func safetensorsRefusesBadFiles() throws {
        let cfg = ModelConfiguration(channels: 2, observableChannels: 1, kernels: [.identity], hiddenSize: 3)
        let good = ModelFile.encode(NCAModel<Float>(configuration: cfg, seed: 1))
        let bytes = good.encode()
        func problem(_ data: Data) -> String {
            do {
                let file = try Safetensors.decode(data)
                let _: NCAModel<Float> = try ModelFile.decode(file, path: "<data>")
                return "accepted"
            } catch { return error.problem }
        }
        #expect(problem(bytes) == "accepted")
        var hugeHeader = bytes
        hugeHeader[7] = 0x7f
        #expect(problem(hugeHeader).contains("bad header length"))
        var badJSON = bytes
        badJSON[8] = UInt8(ascii: "[")
        #expect(problem(badJSON).contains("JSON"))
        #expect(problem(bytes.prefix(bytes.count - 4)).contains("beyond"))
        #expect(problem(Data([1, 2, 3])).contains("too short"))
        var missing = good
        missing.tensors["v"] = nil
        #expect(problem(missing.encode()).contains("lacks tensor 'v'"))
        var inconsistent = good
        inconsistent.metadata["hidden"] = "4"
        #expect(problem(inconsistent.encode()).contains("metadata implies"))
        var notModel = good
        notModel.metadata = [:]
        #expect(problem(notModel.encode()).contains("not an NCA model"))
        var badKernel = good
        badKernel.metadata["kernels"] = "identity,sobel"
        #expect(problem(badKernel.encode()).contains("unknown kernel 'sobel'"))
        var nan = good
        nan.tensors["W2"]!.values[0] = .nan
        #expect(problem(nan.encode()).contains("NaN"))
        var wrongType = String(decoding: bytes, as: UTF8.self)
        wrongType = wrongType.replacingOccurrences(of: "\"F32\"", with: "\"I32\"")
        #expect(problem(Data(wrongType.utf8)).contains("only F32 and F64"))
    }

    @Test func stateFileChecks() throws {
        let folder = temporaryFolder()
        func problem(_ array: ArrayFile) -> String {
            do {
                try NPY.write(array, to: folder + "/s.npy")
                let _: Tensor<Float> = try StateFile.readState(folder + "/s.npy", channels: 4, observable: 2)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(problem(ArrayFile(shape: [4, 4, 4], dtype: .float32, values: Array(repeating: 0, count: 64))) == "accepted")
        #expect(
            problem(ArrayFile(shape: [4, 4], dtype: .float32, values: Array(repeating: 0, count: 16))).contains(
                "expected R × S × S × C"))
        #expect(problem(ArrayFile(shape: [4, 5, 4], dtype: .float32, values: Array(repeating: 0, count: 80))).contains("square"))
        #expect(
            problem(ArrayFile(shape: [4, 4, 3], dtype: .float32, values: Array(repeating: 0, count: 48))).contains("3 channels"))
        #expect(
            problem(ArrayFile(shape: [2, 2, 4], dtype: .float32, values: Array(repeating: 0, count: 16))).contains("at least"))
        var withNaN = Array(repeating: 0.0, count: 64)
        withNaN[5] = .nan
        #expect(problem(ArrayFile(shape: [4, 4, 4], dtype: .float32, values: withNaN)).contains("flat index 5"))
        // Observable channels only: hidden channels are appended as zeros.
        try NPY.write(ArrayFile(shape: [1, 3, 3, 2], dtype: .float64, values: (0..<18).map(Double.init)), to: folder + "/o.npy")
        let padded: Tensor<Double> = try StateFile.readState(folder + "/o.npy", channels: 4, observable: 2)
        #expect(padded.shape == [1, 3, 3, 4])
        #expect(padded.scalars[4 * 4..<4 * 4 + 4] == [8, 9, 0, 0])
        #expect(throws: FileError.self) { try NPY.read(folder + "/missing.npy") }
        // A trajectory serves as a state through one of its frames.
        try NPY.write(
            ArrayFile(shape: [3, 1, 3, 3, 2], dtype: .float32, values: (0..<54).map(Double.init)), to: folder + "/t.npy")
        let frame2: Tensor<Double> = try StateFile.readState(folder + "/t.npy", channels: 2, observable: 2, frame: 2)
        #expect(frame2.shape == [1, 3, 3, 2] && frame2.scalars == (36..<54).map(Double.init))
        #expect { try StateFile.readState(folder + "/t.npy", channels: 2, observable: 2, as: Double.self) } throws: {
            "\($0)".contains("pick one with the frame (0 … 2)")
        }
        #expect { try StateFile.readState(folder + "/t.npy", channels: 2, observable: 2, frame: 3, as: Double.self) } throws: {
            "\($0)".contains("frame 3 does not exist")
        }
        #expect { try StateFile.readState(folder + "/o.npy", channels: 4, observable: 2, frame: 1, as: Double.self) } throws: {
            "\($0)".contains("not a trajectory")
        }
    }

    @Test func atomicWriteLeavesNoTemporaryFiles() throws {
        let folder = temporaryFolder()
        try AtomicFile.write(Data("one".utf8), to: folder + "/f.txt")
        try AtomicFile.write(Data("two".utf8), to: folder + "/f.txt")
        #expect(try String(contentsOfFile: folder + "/f.txt", encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["f.txt"])
        #expect(throws: FileError.self) { try AtomicFile.write(Data(), to: folder + "/no/such/folder/f.txt") }
    }
}
