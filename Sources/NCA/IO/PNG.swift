import CPNG
import Foundation

/// A PNG file that cannot be used.
public struct PNGError: Error, Equatable, NCAUserError {
    public var path: String
    public var problem: String
    public var category: ErrorCategory { .inputData }
    public var description: String { "\(path): \(problem)" }
}

/// An 8-bit RGBA raster as decoded from a PNG, row-major, 4 bytes per pixel, not premultiplied.
public struct RGBAImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]
}

/// PNG encoding and decoding through libpng's simplified API, entirely in memory (so that the
/// file itself is written atomically by `AtomicFile`).
public enum PNG {
    /// Encodes an RGB image.
    public static func encode(_ image: RGBImage) throws(PNGError) -> Data {
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
            throw PNGError(path: "<memory>", problem: "libpng could not size the image: \(message(png))")
        }
        var data = Data(count: Int(size))
        let written = data.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { raw in
                png_image_write_to_memory(&png, out.baseAddress, &size, 0, raw.baseAddress, 0, nil)
            }
        }
        png_image_free(&png)
        guard written != 0 else {
            throw PNGError(path: "<memory>", problem: "libpng could not encode the image: \(message(png))")
        }
        return data.prefix(Int(size))
    }

    public static func write(_ image: RGBImage, to path: String) throws {
        try AtomicFile.write(encode(image), to: path)
    }

    /// Decodes any PNG libpng reads (grey, palette, RGB, RGBA, 16-bit) into 8-bit RGBA.
    public static func decode(_ data: Data, path: String = "<data>") throws(PNGError) -> RGBAImage {
        var png = png_image()
        png.version = nca_png_image_version
        let begun = data.withUnsafeBytes { raw in png_image_begin_read_from_memory(&png, raw.baseAddress, raw.count) }
        guard begun != 0 else {
            throw PNGError(path: path, problem: "not a readable PNG (\(message(png))); re-export it as PNG")
        }
        png.format = nca_png_format_rgba
        let (width, height) = (Int(png.width), Int(png.height))
        guard width > 0, height > 0, width * height <= 1 << 26 else {
            png_image_free(&png)
            throw PNGError(path: path, problem: "image of \(width) × \(height) pixels is empty or too large")
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 4)
        let finished = data.withUnsafeBytes { _ in
            pixels.withUnsafeMutableBytes { out in png_image_finish_read(&png, nil, out.baseAddress, 0, nil) }
        }
        guard finished != 0 else {
            let reason = message(png)
            png_image_free(&png)
            throw PNGError(path: path, problem: "corrupt PNG data (\(reason))")
        }
        return RGBAImage(width: width, height: height, pixels: pixels)
    }

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
