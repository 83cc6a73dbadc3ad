/// Turns lattice states into pictures.
///
/// Observable channels: 2 (or any count other than 3 and 4) side by side in viridis; 3 as RGB;
/// 4 as RGBA (colour premultiplied by alpha, as the image task stores it) composited over white.
/// Hidden channels: a grid of viridis tiles. Each channel keeps one value range for a whole
/// rollout (its min and max over every frame), so frames can be compared by eye.
public struct StateRenderer: Sendable {
    /// S, the lattice side.
    public let size: Int
    /// C, the channels per cell.
    public let channels: Int
    /// O, the observable channels (3 or 4: shown as one RGB or RGBA picture).
    public let observable: Int
    /// Per channel (lower, upper) of the colour scale.
    public let ranges: [ClosedRange<Double>]
    /// Screen pixels per lattice cell.
    public let scale: Int

    static let gap = 4
    static let labelHeight = 16

    /// A renderer whose ranges cover every value of `trajectory` (frames × R × S × S × C, or
    /// R × S × S × C).
    public init(trajectory: Tensor<Float>, observable: Int, scale: Int? = nil) {
        let c = trajectory.shape.last!
        let s = trajectory.shape[trajectory.rank - 2]
        var lower = [Double](repeating: .infinity, count: c)
        var upper = [Double](repeating: -.infinity, count: c)
        for (i, value) in trajectory.scalars.enumerated() where value.isFinite {
            let ch = i % c
            lower[ch] = min(lower[ch], Double(value))
            upper[ch] = max(upper[ch], Double(value))
        }
        var ranges: [ClosedRange<Double>] = []
        for ch in 0..<c {
            if observable == 4 && ch < 4 { ranges.append(0...1); continue }
            let lo = lower[ch].isFinite ? lower[ch] : 0
            let hi = upper[ch].isFinite ? upper[ch] : 1
            ranges.append(lo...max(hi, lo + 1e-12))
        }
        self.init(size: s, channels: c, observable: observable, ranges: ranges, scale: scale)
    }

    /// A renderer with fixed `ranges` per channel (mapped onto viridis) and `scale` pixels per cell.
    public init(size: Int, channels: Int, observable: Int, ranges: [ClosedRange<Double>], scale: Int? = nil) {
        precondition(
            ranges.count == channels && observable <= channels, "StateRenderer: \(ranges.count) ranges for \(channels) channels")
        self.size = size
        self.channels = channels
        self.observable = observable
        self.ranges = ranges
        self.scale = scale ?? max(1, 128 / size)
    }

    var tile: Int { size * scale }

    /// Number of tiles the observable channels take.
    var observableTiles: Int { observable == 3 || observable == 4 ? 1 : observable }

    /// The observable channels of one lattice (`cells` holds S·S·C values, channels last) as a
    /// row of tiles, without label.
    public func observablePicture(_ cells: ArraySlice<Float>) -> RGBImage {
        var image = RGBImage(width: observableTiles * tile + (observableTiles - 1) * Self.gap, height: tile)
        if observable == 3 || observable == 4 {
            image.paste(colourTile(cells), x: 0, y: 0)
        } else {
            for ch in 0..<observable { image.paste(channelTile(cells, channel: ch), x: ch * (tile + Self.gap), y: 0) }
        }
        return image
    }

    /// Hidden channels drawn three to a tile as RGB (each scaled by its own range) when the
    /// observable channels are a colour picture (the image task, the paper's video S2);
    /// otherwise one viridis tile per hidden channel.
    var hiddenAsRGB: Bool { observable == 3 || observable == 4 }

    /// One lattice with a label line, its observable channels and a grid of its hidden channels.
    public func picture(_ cells: ArraySlice<Float>, label: String?) -> RGBImage {
        let hiddenChannels = channels - observable
        let hidden = hiddenAsRGB ? (hiddenChannels + 2) / 3 : hiddenChannels
        let columns = max(observableTiles, min(hidden, 4))
        let hiddenRows = hidden == 0 ? 0 : (hidden + columns - 1) / columns
        let width = columns * tile + (columns - 1) * Self.gap + 2 * Self.gap
        let top = Self.gap + (label == nil ? 0 : Self.labelHeight)
        let height = top + tile + hiddenRows * (tile + Self.gap) + Self.gap
        var image = RGBImage(width: width, height: height)
        if let label { image.drawText(label, x: Self.gap, y: Self.gap, scale: 2) }
        image.paste(observablePicture(cells), x: Self.gap, y: top)
        for h in 0..<hidden {
            let (row, column) = (h / columns, h % columns)
            let tileImage =
                hiddenAsRGB
                ? rgbTile(cells, channels: Array((observable + 3 * h)..<min(channels, observable + 3 * h + 3)))
                : channelTile(cells, channel: observable + h)
            image.paste(tileImage, x: Self.gap + column * (tile + Self.gap), y: top + tile + Self.gap + row * (tile + Self.gap))
        }
        return image
    }

    /// Labelled observable pictures of several lattices in a grid (a contact sheet).
    public func contactSheet(_ lattices: [(label: String, cells: ArraySlice<Float>)], columns: Int = 8) -> RGBImage {
        precondition(!lattices.isEmpty, "contactSheet: nothing to show")
        let pictures = lattices.map { observablePicture($0.cells) }
        let cellWidth = pictures[0].width
        let cellHeight = Self.labelHeight + pictures[0].height
        let cols = min(columns, lattices.count)
        let rows = (lattices.count + cols - 1) / cols
        var sheet = RGBImage(width: cols * (cellWidth + Self.gap) + Self.gap, height: rows * (cellHeight + Self.gap) + Self.gap)
        for (i, picture) in pictures.enumerated() {
            let x = Self.gap + (i % cols) * (cellWidth + Self.gap)
            let y = Self.gap + (i / cols) * (cellHeight + Self.gap)
            sheet.drawText(lattices[i].label, x: x, y: y, scale: 2)
            sheet.paste(picture, x: x, y: y + Self.labelHeight)
        }
        return sheet
    }

    /// The colours a rendering can use (viridis, white, black), for GIF palettes.
    public static var palette: [(UInt8, UInt8, UInt8)] {
        Array(ColorMap.viridis.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)) + [(255, 255, 255), (0, 0, 0)]
    }

    func channelTile(_ cells: ArraySlice<Float>, channel: Int) -> RGBImage {
        let base = cells.startIndex
        let range = ranges[channel]
        var small = RGBImage(width: size, height: size)
        for i in 0..<size {
            for j in 0..<size {
                small[j, i] = ColorMap.viridis(
                    Double(cells[base + (i * size + j) * channels + channel]), lower: range.lowerBound, upper: range.upperBound)
            }
        }
        return small.upscaled(scale)
    }

    /// Up to three channels as the red, green and blue of one tile, each scaled by its range.
    func rgbTile(_ cells: ArraySlice<Float>, channels list: [Int]) -> RGBImage {
        let base = cells.startIndex
        var small = RGBImage(width: size, height: size, fill: (0, 0, 0))
        for i in 0..<size {
            for j in 0..<size {
                var rgb: [UInt8] = [0, 0, 0]
                for (k, channel) in list.enumerated() {
                    let range = ranges[channel]
                    let value = Double(cells[base + (i * size + j) * channels + channel])
                    let t = value.isFinite ? (value - range.lowerBound) / (range.upperBound - range.lowerBound) : 0
                    rgb[k] = UInt8(max(0, min(255, (t * 255).rounded())))
                }
                small[j, i] = (rgb[0], rgb[1], rgb[2])
            }
        }
        return small.upscaled(scale)
    }

    func colourTile(_ cells: ArraySlice<Float>) -> RGBImage {
        let base = cells.startIndex
        var small = RGBImage(width: size, height: size)
        func byte(_ v: Double) -> UInt8 { v.isFinite ? UInt8(max(0, min(255, (v * 255).rounded()))) : 0 }
        for i in 0..<size {
            for j in 0..<size {
                let p = base + (i * size + j) * channels
                let (r, g, b) = (Double(cells[p]), Double(cells[p + 1]), Double(cells[p + 2]))
                if observable == 4 {
                    let alpha = max(0, min(1, Double(cells[p + 3])))
                    small[j, i] = (byte(r + 1 - alpha), byte(g + 1 - alpha), byte(b + 1 - alpha))
                } else {
                    small[j, i] = (byte(r), byte(g), byte(b))
                }
            }
        }
        return small.upscaled(scale)
    }
}
