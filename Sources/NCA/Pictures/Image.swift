/// An 8-bit RGB raster, row-major, 3 bytes per pixel.
public struct RGBImage: Equatable, Sendable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// height × width × 3 bytes, RGB.
    public var pixels: [UInt8]

    /// An image filled with one colour (white by default).
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width) × \(height)")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            pixels[3 * p] = fill.0
            pixels[3 * p + 1] = fill.1
            pixels[3 * p + 2] = fill.2
        }
    }

    /// The pixel at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get {
            let p = 3 * (y * width + x)
            return (pixels[p], pixels[p + 1], pixels[p + 2])
        }
        set {
            let p = 3 * (y * width + x)
            pixels[p] = newValue.0
            pixels[p + 1] = newValue.1
            pixels[p + 2] = newValue.2
        }
    }

    /// Copies `other` with its top-left corner at (x, y), clipped to this image.
    public mutating func paste(_ other: RGBImage, x: Int, y: Int) {
        for row in 0..<other.height where y + row >= 0 && y + row < height {
            for col in 0..<other.width where x + col >= 0 && x + col < width {
                self[x + col, y + row] = other[col, row]
            }
        }
    }

    /// Each pixel repeated `factor` × `factor` times (nearest neighbour).
    public func upscaled(_ factor: Int) -> RGBImage {
        guard factor > 1 else { return self }
        var out = RGBImage(width: width * factor, height: height * factor)
        for y in 0..<out.height { for x in 0..<out.width { out[x, y] = self[x / factor, y / factor] } }
        return out
    }

    /// Draws `text` (letters, digits, space, '-', '.', '=', ',', ':') in a 3×5 pixel font scaled by
    /// `scale`, top-left at (x, y); other characters leave a gap.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 2, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var cursor = x
        for character in text.lowercased() {
            if let rows = Glyphs.bitmaps[character] {
                for (r, bits) in rows.enumerated() {
                    for c in 0..<3 where bits & (4 >> c) != 0 {
                        for dy in 0..<scale {
                            for dx in 0..<scale {
                                let (px, py) = (cursor + c * scale + dx, y + r * scale + dy)
                                if px >= 0 && px < width && py >= 0 && py < height { self[px, py] = color }
                            }
                        }
                    }
                }
            }
            cursor += 4 * scale
        }
    }
}

/// A 3×5 bitmap font: each row is 3 bits, most significant bit on the left.
enum Glyphs {
    static let bitmaps: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        "s": [7, 4, 7, 1, 7], "t": [7, 2, 2, 2, 2], "e": [7, 4, 7, 4, 7], "p": [7, 5, 7, 4, 4], "-": [0, 0, 7, 0, 0],
        ".": [0, 0, 0, 0, 2], "=": [0, 7, 0, 7, 0], "n": [6, 5, 5, 5, 5], "a": [7, 5, 7, 5, 5], "r": [6, 5, 6, 5, 5],
        "d": [6, 5, 5, 5, 6], "m": [5, 7, 7, 5, 5], "o": [7, 5, 5, 5, 7], "l": [4, 4, 4, 4, 7], "h": [5, 5, 7, 5, 5],
        "i": [7, 2, 2, 2, 7], "u": [5, 5, 5, 5, 7], "b": [6, 5, 6, 5, 6], "c": [7, 4, 4, 4, 7], "g": [7, 4, 5, 5, 7],
        "x": [5, 5, 2, 5, 5], "y": [5, 5, 2, 2, 2], "k": [5, 6, 4, 6, 5], "f": [7, 4, 6, 4, 4], "v": [5, 5, 5, 5, 2],
        "w": [5, 5, 7, 7, 5], "z": [7, 1, 2, 4, 7], "j": [1, 1, 1, 5, 7], "q": [7, 5, 5, 7, 1], ",": [0, 0, 0, 2, 4],
        ":": [0, 2, 0, 2, 0],
    ]
}
