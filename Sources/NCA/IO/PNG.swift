import CPNG
import Foundation

/// An 8-bit RGBA raster as decoded from a PNG, row-major, 4 bytes per pixel, not premultiplied.
public struct RGBAImage: Equatable, Sendable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// height × width × 4 bytes, RGBA, not premultiplied.
    public var pixels: [UInt8]
}

/// PNG encoding and decoding through libpng's simplified API, entirely in memory (so that the
/// file itself is written atomically by `AtomicFile`).
public enum PNG {
    /// Encodes an RGB image.
    public static func encode(_ image: RGBImage) throws(FileError) -> Data {
        precondition(image.width > 0 && image.height > 0, "PNG.encode: empty image")
        var png = png_image()
        png.version = nca_png_image_version
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = nca_png_format_rgb
        var size: png_alloc_size_t = 0
        let sized = image.pixels.withUnsafeBytes { raw in
            png_image_write_to_memory(&png, nil, &size, 0, raw.baseAddress, 0, nil)
        }
        guard sized != 0, size > 0 else {
            throw FileError.invalid(path: "<memory>", problem: "libpng could not size the image: \(message(png))")
        }
        var data = Data(count: Int(size))
        let written = data.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { raw in
                png_image_write_to_memory(&png, out.baseAddress, &size, 0, raw.baseAddress, 0, nil)
            }
        }
        png_image_free(&png)
        guard written != 0 else {
            throw FileError.invalid(path: "<memory>", problem: "libpng could not encode the image: \(message(png))")
        }
        return data.prefix(Int(size))
    }

    /// Writes `image` as an 8-bit RGB PNG, atomically.
    public static func write(_ image: RGBImage, to path: String) throws {
        try AtomicFile.write(encode(image), to: path)
    }

    /// Decodes any PNG libpng reads (grey, grey + alpha, palette with or without transparency,
    /// RGB, RGBA; 1–16 bits) into 8-bit RGBA, not premultiplied.
    ///
    /// libpng's simplified API keeps a pointer to the input between `begin_read` and
    /// `finish_read`, so both run inside one `withUnsafeBytes`.
    public static func decode(_ data: Data, path: String = "<data>") throws(FileError) -> RGBAImage {
        let result: Result<RGBAImage, FileError> = data.withUnsafeBytes { raw in
            var png = png_image()
            png.version = nca_png_image_version
            guard png_image_begin_read_from_memory(&png, raw.baseAddress, raw.count) != 0 else {
                let reason = message(png)
                png_image_free(&png)
                return .failure(FileError.invalid(path: path, problem: "not a readable PNG (\(reason)); re-export it as PNG"))
            }
            // 16-bit files without a colour-space chunk hold sRGB-encoded values in practice (numpy,
            // imageio and PIL write them so); libpng would call them linear and gamma-encode them
            // on the way to 8 bits. Read those as 16-bit "linear" (no conversion; libpng then
            // premultiplies by alpha) and scale down here instead.
            let sixteenBit = png.format & nca_png_format_flag_linear != 0
            let rawSixteen = sixteenBit && !hasColourSpaceChunk(raw)
            png.format = rawSixteen ? nca_png_format_linear_rgba : nca_png_format_rgba
            let (width, height) = (Int(png.width), Int(png.height))
            guard width > 0, height > 0, width * height <= 1 << 26 else {
                png_image_free(&png)
                return .failure(
                    FileError.invalid(
                        path: path, problem: "image of \(width) × \(height) pixels is empty or too large (at most 2^26 pixels)"))
            }
            var pixels = [UInt8](repeating: 0, count: width * height * 4)
            var finished: Int32 = 0
            if rawSixteen {
                var wide = [UInt16](repeating: 0, count: width * height * 4)
                finished = wide.withUnsafeMutableBytes { out in png_image_finish_read(&png, nil, out.baseAddress, 0, nil) }
                for p in 0..<(width * height) {
                    let alpha = Double(wide[4 * p + 3])
                    pixels[4 * p + 3] = UInt8((alpha / 257).rounded())
                    guard alpha > 0 else { continue }
                    for k in 0..<3 {
                        let straight = min(65535, Double(wide[4 * p + k]) * 65535 / alpha)
                        pixels[4 * p + k] = UInt8((straight / 257).rounded())
                    }
                }
            } else {
                finished = pixels.withUnsafeMutableBytes { out in png_image_finish_read(&png, nil, out.baseAddress, 0, nil) }
            }
            guard finished != 0 else {
                let reason = message(png)
                png_image_free(&png)
                return .failure(FileError.invalid(path: path, problem: "corrupt PNG data (\(reason))"))
            }
            png_image_free(&png)
            return .success(RGBAImage(width: width, height: height, pixels: pixels))
        }
        return try result.get()
    }

    /// How a PNG stores its pixels when that is not 8-bit RGBA, e.g. "16-bit RGBA" or
    /// "8-bit palette", from its IHDR; nil for 8-bit RGBA. Throws for data that is not a PNG.
    public static func colourType(_ data: Data, path: String = "<data>") throws(FileError) -> String? {
        let bytes = [UInt8](data.prefix(33))
        guard bytes.count >= 26, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
            bytes[12..<16] == [0x49, 0x48, 0x44, 0x52]
        else {
            throw FileError.invalid(path: path, problem: "not a readable PNG (no PNG signature and header); re-export it as PNG")
        }
        let depth = Int(bytes[24])
        let kinds = [0: "grey", 2: "RGB", 3: "palette", 4: "grey + alpha", 6: "RGBA"]
        let kind = kinds[Int(bytes[25])] ?? "colour type \(bytes[25])"
        return depth == 8 && kind == "RGBA" ? nil : "\(depth)-bit \(kind)"
    }

    /// Whether a gAMA, sRGB, cHRM or iCCP chunk comes before the image data.
    static func hasColourSpaceChunk(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = (0..<4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
            let kind = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            if ["gAMA", "sRGB", "cHRM", "iCCP"].contains(kind) { return true }
            if kind == "IDAT" || kind == "IEND" { return false }
            guard length >= 0, length <= bytes.count else { return false }
            offset += 12 + length
        }
        return false
    }

    /// Reads a PNG of any colour type and bit depth as 8-bit RGBA.
    public static func read(_ path: String) throws -> RGBAImage {
        try decode(AtomicFile.read(path), path: path)
    }

    private static func message(_ png: png_image) -> String {
        var copy = png
        return withUnsafeBytes(of: &copy.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}
