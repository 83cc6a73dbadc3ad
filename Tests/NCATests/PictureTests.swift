import Foundation
import Testing

@testable import NCA

@Suite("Pictures")
struct PictureTests {
    @Test func viridisMatchesReferenceColours() {
        // matplotlib's viridis at 0, 0.5 and 1.
        let reference: [(Int, (Double, Double, Double))] = [
            (0, (0.267004, 0.004874, 0.329415)), (128, (0.127568, 0.566949, 0.550556)), (255, (0.993248, 0.906157, 0.143936)),
        ]
        for (index, rgb) in reference {
            let c = ColorMap.viridis[index]
            #expect(
                abs(Double(c.0) / 255 - rgb.0) < 0.02 && abs(Double(c.1) / 255 - rgb.1) < 0.02
                    && abs(Double(c.2) / 255 - rgb.2) < 0.02, "viridis[\(index)] = \(c)")
        }
        // Perceptually ordered: lightness (approximated by luma) increases monotonically.
        let luma = ColorMap.viridis.map { 0.2126 * Double($0.0) + 0.7152 * Double($0.1) + 0.0722 * Double($0.2) }
        #expect(zip(luma, luma.dropFirst()).allSatisfy { $0 <= $1 + 1 })
        #expect(ColorMap.viridis(.nan, lower: 0, upper: 1) == (0, 0, 0))
        #expect(ColorMap.viridis(5, lower: 0, upper: 1) == ColorMap.viridis[255])
    }

    @Test func pngRoundTripsThroughLibpng() throws {
        var image = RGBImage(width: 5, height: 3)
        for y in 0..<3 { for x in 0..<5 { image[x, y] = (UInt8(x * 50), UInt8(y * 100), UInt8(x * y * 10)) } }
        let data = try PNG.encode(image)
        #expect(Array(data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let back = try PNG.decode(data)
        #expect(back.width == 5 && back.height == 3)
        for y in 0..<3 {
            for x in 0..<5 {
                let p = 4 * (y * 5 + x)
                #expect(
                    back.pixels[p] == image[x, y].0 && back.pixels[p + 1] == image[x, y].1 && back.pixels[p + 2] == image[x, y].2)
                #expect(back.pixels[p + 3] == 255)
            }
        }
        #expect(throws: FileError.self) { try PNG.decode(Data("not a png".utf8)) }
        #expect(throws: FileError.self) { try PNG.decode(data.prefix(data.count / 2)) }
    }

    @Test func lineBreaksAtUnusableValues() {
        // NaN, ∞ and (on the log y axis) 0 split the line; a run of one point is a dot.
        let points: [(x: Double, y: Double)] = [(1, 1), (2, 2), (3, .nan), (4, 4), (5, 5), (6, 0), (7, 7), (8, .infinity)]
        let svg = SVGPlot.lines([SVGPlot.Series(name: "a", points: points, color: "#000")], xLabel: "x", yLabel: "y")
        let polylines = svg.components(separatedBy: "<polyline").dropFirst().map { $0.components(separatedBy: "/>")[0] }
        #expect(polylines.count == 2 && polylines.allSatisfy { $0.split(separator: " ").filter { $0.contains(",") }.count == 2 })
        #expect(svg.components(separatedBy: "<circle").count - 1 == 1)
        // On a linear y axis 0 is usable: (4, 4) … (7, 7) is one line.
        let linear = SVGPlot.lines(
            [SVGPlot.Series(name: "a", points: points, color: "#000")], logY: false, xLabel: "x", yLabel: "y")
        #expect(linear.components(separatedBy: "<polyline").count - 1 == 2 && !linear.contains("<circle"))
    }

    @Test func gifHasHeaderLoopAndFrames() throws {
        var a = RGBImage(width: 4, height: 4)
        var b = RGBImage(width: 4, height: 4)
        a[1, 1] = (255, 255, 255)
        b[2, 2] = ColorMap.viridis[0]
        let data = try GIF.encode(frames: [a, b, a], delay: 7, palette: StateRenderer.palette)
        let bytes = [UInt8](data)
        #expect(String(decoding: bytes.prefix(6), as: UTF8.self) == "GIF89a")
        #expect(bytes.last == 0x3B, "GIF trailer")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("NETSCAPE2.0"))
        // Three graphic control extensions (0x21 0xF9), each with delay 7.
        var controls = 0
        for i in 0..<(bytes.count - 5) where bytes[i] == 0x21 && bytes[i + 1] == 0xF9 {
            controls += 1
            #expect(bytes[i + 4] == 7 && bytes[i + 5] == 0)
        }
        #expect(controls == 3)
    }

    @Test func rendererLaysOutObservableAndHiddenChannels() {
        // 2 observable + 3 hidden channels on a 4 × 4 lattice, scale 1.
        let (s, c) = (4, 5)
        var state = Tensor<Float>(zeros: [1, s, s, c])
        for cell in 0..<(s * s) { for ch in 0..<c { state.scalars[cell * c + ch] = Float(ch == 0 ? cell : -cell) } }
        let renderer = StateRenderer(trajectory: state, observable: 2, scale: 1)
        #expect(renderer.ranges[0] == 0...15 && renderer.ranges[2] == -15...0)
        let picture = renderer.picture(state.scalars[...], label: "step 12")
        // columns = max(2, min(3, 4)) = 3 tiles of 4 px with 4 px gaps, plus margins.
        #expect(picture.width == 3 * 4 + 2 * 4 + 2 * 4)
        #expect(picture.height == 4 + 16 + 4 + (4 + 4) + 4)
        // Channel 0's first cell is its minimum: viridis[0]; last cell its maximum.
        let top = 4 + 16
        #expect(picture[4, top] == ColorMap.viridis[0])
        #expect(picture[4 + 3, top + 3] == ColorMap.viridis[255])
        // RGBA over white: a transparent pixel is white, an opaque red one red.
        var rgba = Tensor<Float>(zeros: [1, 3, 3, 4])
        rgba.scalars[0...3] = [1, 0, 0, 1]
        let colour = StateRenderer(trajectory: rgba, observable: 4, scale: 1).observablePicture(rgba.scalars[...])
        #expect(colour[0, 0] == (255, 0, 0) && colour[1, 0] == (255, 255, 255))
    }

    @Test func reportIsSelfContained() throws {
        var cfg = TrainingConfiguration(
            model: ModelConfiguration(channels: 3, observableChannels: 2, kernels: [.identity], hiddenSize: 4))
        cfg.timeSampling = 2
        let data: Tensor<Float> = randomTensor([4, 1, 6, 6, 2], seed: 3)
        let model = NCAModel<Float>(configuration: cfg.model, seed: 1)
        let evaluation = RolloutEvaluation.evaluate(model, data: data, timeSampling: 2, loss: .euclidean)
        let run = RunConfiguration(
            training: cfg, preset: nil, dataSource: "x.npy", dataShape: data.shape, testDataSource: nil, toolkitVersion: "test")
        let report = RunReport(
            configuration: run, folderName: "r<1>", curve: [(1, 2.0), (2, 1.0), (3, 0.5)], bestEpoch: 3, bestLoss: 0.5,
            comparisons: [RunReport.Comparison(title: "Training trajectory", caption: "c", data: data, evaluation: evaluation)])
        let html = try report.html()
        #expect(html.contains("<svg") && html.contains("<polyline"))
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 2 * 4)
        #expect(!html.contains("http://") || !html.contains("src=\"http"))
        #expect(!html.contains("<script"))
        #expect(html.contains("r&lt;1&gt;"), "names are escaped")
        // A fresh model (W1 = v = 0) does nothing: its rollout loss is the do-nothing baseline.
        let baseline = RolloutEvaluation.doNothingLoss(data: data, observable: 2, loss: .euclidean)
        #expect(abs(baseline - evaluation.meanLoss) < 1e-9)
        #expect(html.contains(String(format: "do-nothing model: %.5g", baseline)))
        // The identity model's loss at every snapshot is the data's own change from frame 0.
        let frame0 = Tensor<Float>(shape: [1, 6, 6, 2], scalars: Array(data.scalars[0..<72]))
        for k in 1..<4 {
            let target = Tensor<Float>(shape: [1, 6, 6, 2], scalars: Array(data.scalars[(k * 72)..<((k + 1) * 72)]))
            var padded = Tensor<Float>(zeros: [1, 6, 6, 3])
            for cell in 0..<36 { for ch in 0..<2 { padded.scalars[cell * 3 + ch] = frame0.scalars[cell * 2 + ch] } }
            let expected = LossFunction.euclidean.evaluate(prediction: padded, target: target, observableChannels: 2).loss
            #expect(abs(evaluation.losses[k - 1] - expected) < 1e-9)
        }
    }
}

@Suite("PNG reading")
struct PNGReadingTests {
    /// The reference pixels of the PNG fixtures (make_fixtures.py): (x, y) →
    /// (40x + 10, 100y + 20, 7x + 9y, 255 − 60x − 50y).
    static func reference(_ x: Int, _ y: Int) -> [UInt8] {
        [UInt8(40 * x + 10), UInt8(100 * y + 20), UInt8(7 * x + 9 * y), UInt8(255 - 60 * x - 50 * y)]
    }

    @Test(arguments: [
        "png_rgba8.png", "png_rgb8.png", "png_grey8.png", "png_greyalpha8.png", "png_rgba16.png", "png_palette.png",
    ])
    func readsEveryColourType(name: String) throws {
        let image = try PNG.read(fixture(name))
        #expect(image.width == 3 && image.height == 2)
        for y in 0..<2 {
            for x in 0..<3 {
                let p = Array(image.pixels[(4 * (y * 3 + x))..<(4 * (y * 3 + x) + 4)])
                let r = Self.reference(x, y)
                let expected: [UInt8]
                switch name {
                case "png_rgb8.png": expected = [r[0], r[1], r[2], 255]
                case "png_grey8.png": expected = [r[0], r[0], r[0], 255]
                case "png_greyalpha8.png": expected = [r[0], r[0], r[0], r[3]]
                default: expected = r
                }
                #expect(p == expected, "\(name) pixel (\(x), \(y)): \(p) vs \(expected)")
            }
        }
    }
}
