import CGIF
import Foundation

/// Animated GIFs through giflib, encoded in memory (the file is then written atomically).
public enum GIF {
    /// Encodes frames of equal size, looping forever, `delay` hundredths of a second apart.
    /// Colours are mapped to the nearest entry of `palette` (at most 256 colours), which should
    /// hold the colours the frames use (e.g. viridis plus white).
    public static func encode(frames: [RGBImage], delay: Int, palette: [(UInt8, UInt8, UInt8)]) throws(FileError) -> Data {
        precondition(!frames.isEmpty && palette.count >= 2 && palette.count <= 256, "GIF.encode: need frames and 2…256 colours")
        let (width, height) = (frames[0].width, frames[0].height)
        precondition(frames.allSatisfy { $0.width == width && $0.height == height }, "GIF.encode: frames differ in size")
        let sink = Sink()
        var error: Int32 = 0
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        guard
            let gif = EGifOpen(
                unmanaged.toOpaque(),
                { file, bytes, count in
                    guard let file, let bytes, let user = file.pointee.UserData else { return 0 }
                    Unmanaged<Sink>.fromOpaque(user).takeUnretainedValue().data.append(bytes, count: Int(count))
                    return count
                }, &error)
        else { throw FileError(path: "", problem: "GIF encoding failed: EGifOpen failed (giflib error \(error))") }
        var failed: String?
        func check(_ result: Int32, _ what: String) {
            if result != GIF_OK && failed == nil { failed = "\(what) (giflib error \(gif.pointee.Error))" }
        }
        var size = 2
        while size < palette.count { size *= 2 }
        var colors = (0..<size).map { i -> GifColorType in
            let c = i < palette.count ? palette[i] : (0, 0, 0)
            return GifColorType(Red: c.0, Green: c.1, Blue: c.2)
        }
        let map = GifMakeMapObject(Int32(size), &colors)
        EGifSetGifVersion(gif, true)
        check(EGifPutScreenDesc(gif, Int32(width), Int32(height), 8, 0, map), "screen descriptor")
        // NETSCAPE2.0 application extension: loop forever.
        check(EGifPutExtensionLeader(gif, nca_gif_application_ext), "loop extension")
        var netscape = Array("NETSCAPE2.0".utf8)
        check(EGifPutExtensionBlock(gif, 11, &netscape), "loop extension")
        var loop: [UInt8] = [1, 0, 0]
        check(EGifPutExtensionBlock(gif, 3, &loop), "loop extension")
        check(EGifPutExtensionTrailer(gif), "loop extension")
        var cache: [UInt32: UInt8] = [:]
        func index(_ c: (UInt8, UInt8, UInt8)) -> UInt8 {
            let key = UInt32(c.0) << 16 | UInt32(c.1) << 8 | UInt32(c.2)
            if let hit = cache[key] { return hit }
            var best = 0
            var bestDistance = Int.max
            for (i, p) in palette.enumerated() {
                let d =
                    (Int(c.0) - Int(p.0)) * (Int(c.0) - Int(p.0)) + (Int(c.1) - Int(p.1)) * (Int(c.1) - Int(p.1))
                    + (Int(c.2) - Int(p.2)) * (Int(c.2) - Int(p.2))
                if d < bestDistance { (best, bestDistance) = (i, d) }
            }
            cache[key] = UInt8(best)
            return UInt8(best)
        }
        for frame in frames where failed == nil {
            var control = GraphicsControlBlock(
                DisposalMode: DISPOSE_DO_NOT, UserInputFlag: false, DelayTime: Int32(delay),
                TransparentColor: NO_TRANSPARENT_COLOR)
            var extensionBytes = [UInt8](repeating: 0, count: 4)
            let length = EGifGCBToExtension(&control, &extensionBytes)
            check(EGifPutExtension(gif, nca_gif_graphics_ext, Int32(length), &extensionBytes), "frame delay")
            check(EGifPutImageDesc(gif, 0, 0, Int32(width), Int32(height), false, nil), "image descriptor")
            var line = [UInt8](repeating: 0, count: width)
            for y in 0..<height where failed == nil {
                for x in 0..<width { line[x] = index(frame[x, y]) }
                check(EGifPutLine(gif, &line, Int32(width)), "image data")
            }
        }
        var closeError: Int32 = 0
        if EGifCloseFile(gif, &closeError) != GIF_OK && failed == nil { failed = "closing (giflib error \(closeError))" }
        GifFreeMapObject(map)
        if let failed { throw FileError(path: "", problem: "GIF encoding failed: " + failed) }
        return sink.data
    }

    /// Writes an animated GIF atomically: `frames` with `delay` hundredths of a second between them, in `palette`.
    public static func write(frames: [RGBImage], delay: Int, palette: [(UInt8, UInt8, UInt8)], to path: String) throws {
        try AtomicFile.write(encode(frames: frames, delay: delay, palette: palette), to: path)
    }

    private final class Sink {
        var data = Data()
    }
}
