import Foundation

/// The self-contained `report.html` of a training run: configuration, loss curve (inline SVG),
/// rows of data vs model snapshots (PNG as data URIs) and the test loss. Opens from disk with no
/// network access.
public struct RunReport {
    /// Data and the model's rollout over the same snapshots.
    public struct Comparison {
        /// The heading of this comparison.
        public var title: String
        /// The sentence under it.
        public var caption: String
        /// (M+1) × R × S × S × O (or × C).
        public var data: Tensor<Float>
        /// The model's free rollout over the same snapshots.
        public var evaluation: RolloutEvaluation
        /// Model states beyond the data (step, S × S × C cells), shown without data: an
        /// extrapolation past the training horizon (Fig 11's rightmost column).
        public var extrapolation: [(step: Int, cells: [Float])]

        /// A comparison of `data` with `evaluation`, and model states past the data, if any.
        public init(
            title: String, caption: String, data: Tensor<Float>, evaluation: RolloutEvaluation,
            extrapolation: [(step: Int, cells: [Float])] = []
        ) {
            self.title = title
            self.caption = caption
            self.data = data
            self.evaluation = evaluation
            self.extrapolation = extrapolation
        }
    }

    /// The run's configuration, shown in full.
    public var configuration: RunConfiguration
    /// The run folder's name, for the title.
    public var folderName: String
    /// (epoch, training loss) of every epoch.
    public var curve: [(epoch: Int, loss: Double)]
    /// The epoch with the lowest training loss.
    public var bestEpoch: Int
    /// That loss.
    public var bestLoss: Double
    /// Data against rollout, for the training data and the test data.
    public var comparisons: [Comparison]
    /// The validation losses (epoch, loss) of rollout selection, drawn with the training loss.
    public var validationCurve: [(epoch: Int, loss: Double)] = []
    /// How best.safetensors was chosen and which epoch's model it is, for the summary.
    public var bestModel: String? = nil

    /// A report; the optional parts are set afterwards.
    public init(
        configuration: RunConfiguration, folderName: String, curve: [(epoch: Int, loss: Double)], bestEpoch: Int,
        bestLoss: Double,
        comparisons: [Comparison]
    ) {
        self.configuration = configuration
        self.folderName = folderName
        self.curve = curve
        self.bestEpoch = bestEpoch
        self.bestLoss = bestLoss
        self.comparisons = comparisons
    }

    /// Writes `report.html` atomically to `path`.
    public func write(to path: String) throws {
        try AtomicFile.write(Data(try html().utf8), to: path)
    }

    /// The page as self-contained HTML (pictures as PNG data URIs).
    public func html() throws -> String {
        let e = SVGPlot.escape
        let t = configuration.training
        var body = "<h1>NCA training run <code>\(e(folderName))</code></h1>\n"
        var summary = [
            ("epochs", "\(curve.last?.epoch ?? 0) of \(t.epochs)"),
            ("best training loss", bestEpoch > 0 ? String(format: "%.5g (epoch %d)", bestLoss, bestEpoch) : "–"),
            ("best.safetensors", bestModel ?? "the model of the epoch with the lowest training loss"),
            ("last training loss", curve.last.map { String(format: "%.5g", $0.loss) } ?? "–"),
        ]
        for comparison in comparisons {
            summary.append(
                (
                    "\(comparison.title): mean loss",
                    String(
                        format: "%.5g over %d snapshots (do-nothing model: %.5g)", comparison.evaluation.meanLoss,
                        comparison.evaluation.losses.count, baseline(comparison))
                ))
        }
        body +=
            "<table class=\"summary\">" + summary.map { "<tr><th>\(e($0.0))</th><td>\(e($0.1))</td></tr>" }.joined()
            + "</table>\n"
        body +=
            "<h2>Training loss</h2>\n<p>Mean \(e(t.loss.rawValue)) loss over all transitions per epoch (Algorithm 2), log scale"
            + (validationCurve.isEmpty
                ? ".</p>\n"
                : "; the validation loss (free rollout from the training trajectories' first frames over the data's horizon) "
                    + "picks best.safetensors.</p>\n")
        var series = [SVGPlot.Series(name: "training loss", points: curve.map { (Double($0.epoch), $0.loss) }, color: "#3b528b")]
        let finite = validationCurve.filter { $0.loss.isFinite }
        if !finite.isEmpty {
            series.append(
                SVGPlot.Series(name: "validation loss", points: finite.map { (Double($0.epoch), $0.loss) }, color: "#e8701a"))
        }
        body += SVGPlot.lines(
            series,
            xLabel: "epoch",
            yLabel: "loss")
        for comparison in comparisons {
            body += try section(comparison)
        }
        body +=
            "<h2>Configuration</h2>\n<table class=\"config\">"
            + configurationRows().map { "<tr><th>\(e($0.0))</th><td><code>\(e($0.1))</code></td></tr>" }.joined() + "</table>\n"
        return HTMLPage.document(
            title: "NCA run \(folderName)", body: body, footer: "Written by nca \(configuration.toolkitVersion).")
    }

    private func section(_ comparison: Comparison) throws -> String {
        let e = SVGPlot.escape
        let eval = comparison.evaluation
        let o = configuration.training.model.observableChannels
        let frames = eval.trajectory.shape[0]
        // Every frame of a short sequence (the image task), five picks of a long one.
        let picks =
            frames <= 12 ? Array(0..<frames) : Array(Set([0, frames / 4, frames / 2, (3 * frames) / 4, frames - 1])).sorted()
        let (s, c) = (eval.trajectory.shape[2], eval.trajectory.shape[4])
        let dc = comparison.data.shape[4]
        let dataRenderer = StateRenderer(trajectory: comparison.data, observable: o, scale: 1)
        let modelRenderer = StateRenderer(
            size: s, channels: c, observable: o, ranges: dataRenderer.ranges.prefix(o) + Array(repeating: 0...1, count: c - o),
            scale: 1)
        var dataRow = "<tr><th>data</th>"
        var modelRow = "<tr><th>model</th>"
        var header = "<tr><th></th>"
        for k in picks {
            let steps = k * eval.timeSampling
            header += "<td>step \(steps)</td>"
            let dataStart = k * comparison.data.shape[1] * s * s * dc
            let dataCells = comparison.data.scalars[dataStart..<(dataStart + s * s * dc)]
            let modelStart = k * eval.trajectory.shape[1] * s * s * c
            let modelCells = eval.trajectory.scalars[modelStart..<(modelStart + s * s * c)]
            let wide = o == 3 || o == 4 ? "" : " class=\"wide\""
            dataRow +=
                "<td><img\(wide) alt=\"data at step \(steps)\" src=\"\(try dataURI(dataRenderer.observablePicture(dataCells)))\"></td>"
            modelRow +=
                "<td><img\(wide) alt=\"model at step \(steps)\" src=\"\(try dataURI(modelRenderer.observablePicture(modelCells)))\"></td>"
        }
        for (step, cells) in comparison.extrapolation {
            let wide = o == 3 || o == 4 ? "" : " class=\"wide\""
            header += "<td>step \(step) (beyond)</td>"
            dataRow += "<td>–</td>"
            modelRow +=
                "<td><img\(wide) alt=\"model at step \(step)\" src=\"\(try dataURI(modelRenderer.observablePicture(cells[...])))\"></td>"
        }
        let lossPoints = eval.losses.enumerated().map { (Double(($0.offset + 1) * eval.timeSampling), $0.element) }
        return """
            <h2>\(e(comparison.title))</h2>
            <p class="caption">\(e(comparison.caption)) Mean loss over the snapshots: <b>\(String(format: "%.5g", eval.meanLoss))</b>; \
            a model that does nothing (keeps the initial state) scores \(String(format: "%.5g", baseline(comparison))).</p>
            <table class="snapshots">\(header)</tr>\(dataRow)</tr>\(modelRow)</tr></table>
            \(SVGPlot.lines([SVGPlot.Series(name: "loss at snapshot", points: lossPoints, color: "#21918c")], height: 240, xLabel: "NCA steps", yLabel: "loss"))

            """
    }

    private func baseline(_ comparison: Comparison) -> Double {
        RolloutEvaluation.doNothingLoss(
            data: comparison.data, observable: configuration.training.model.observableChannels, loss: configuration.training.loss)
    }

    private func dataURI(_ image: RGBImage) throws -> String {
        "data:image/png;base64," + (try PNG.encode(image)).base64EncodedString()
    }

    private func configurationRows() -> [(String, String)] {
        let t = configuration.training
        let m = t.model
        var rows: [(String, String)] = [
            ("channels (observable)", "\(m.channels) (\(m.observableChannels))"), ("kernels", Kernel.listDescription(m.kernels)),
            ("activation", m.activation.rawValue), ("hidden size", "\(m.hiddenSize)"), ("boundary", m.boundary.rawValue),
            ("skip probability (mask)", "\(m.skipProbability) (\(m.mask.rawValue))"), ("time sampling", "\(t.timeSampling)"),
            ("epochs", "\(t.epochs)"), ("mini-batch size", "\(t.minibatchSize)"), ("optimizer", t.optimizer.rawValue),
            ("learning rate (decay)", "\(t.learningRate) (\(t.learningRateDecay))"), ("loss", t.loss.rawValue),
            ("gradient normalisation", t.gradientNormalisation ? "on" : "off"), ("update", t.update.rawValue),
            ("weight initialisation", (t.weightInitialisation ?? WeightInitialisation()).description),
            ("range penalty λ", "\(t.rangePenalty ?? 0)"),
            (
                "model selection",
                t.selection == .rollout ? "rollout, every \(t.validateEvery ?? 10) epochs" : t.selection.rawValue
            ),
            ("seed", "\(t.seed)"),
            ("training data", configuration.dataSource),
            ("data shape", configuration.dataShape.map(String.init).joined(separator: " × ")),
        ]
        if let test = configuration.testDataSource { rows.append(("test data", test)) }
        if let preset = configuration.preset { rows.insert(("preset", preset), at: 0) }
        return rows
    }
}
