import Foundation

/// `analysis.html`: the findings of `nca analyse` in sentences, with SVG plots of the singular
/// spectra, importance heatmaps, the top singular directions, growth rate against wavenumber and
/// the pruning check. Self-contained.
public struct AnalysisReport {
    /// The analysis to show.
    public var analysis: ModelAnalysis
    /// The toolkit version named in the page.
    public var toolkitVersion: String

    /// A report of `analysis`.
    public init(analysis: ModelAnalysis, toolkitVersion: String) {
        self.analysis = analysis
        self.toolkitVersion = toolkitVersion
    }

    /// Writes `analysis.html` atomically to `path`.
    public func write(to path: String) throws {
        try AtomicFile.write(Data(html().utf8), to: path)
    }

    /// The page as self-contained HTML.
    public func html() -> String {
        let body = [
            headerSection, spectraSection, readsSection, directionsSection, writesSection, stabilitySection, pruningSection,
        ]
        .joined()
        return HTMLPage.document(title: "NCA analysis \(analysis.model)", body: body, footer: "Written by nca \(toolkitVersion).")
    }

    private var channelLabels: [String] {
        let w = analysis.weights
        return (0..<w.channels).map { $0 < w.observableChannels ? "ch \($0)" : "ch \($0) (h)" }
    }

    private var palette: [String] { ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725", "#b5367a", "#e16462"] }

    private var headerSection: String {
        let e = SVGPlot.escape
        let cfg = analysis.configuration
        var body = ""
        body = "<h1>What the rule does: <code>\(e(analysis.model))</code></h1>\n"
        body +=
            "<p class=\"caption\">\(cfg.channels) channels (\(cfg.observableChannels) observable), kernels \(e(Kernel.listDescription(cfg.kernels))), \(e(cfg.activation.rawValue)), hidden size \(cfg.hiddenSize), \(e(cfg.boundary.rawValue)) boundary, p = \(cfg.skipProbability). Channels marked (h) are hidden.</p>\n"
        body +=
            "<h2>Findings</h2>\n<ul class=\"findings\">" + analysis.sentences.map { "<li>\(e($0))</li>" }.joined() + "</ul>\n"
        return body
    }

    private var spectraSection: String {
        let e = SVGPlot.escape
        let w = analysis.weights
        var body = ""
        body += "<h2>Singular spectra</h2>\n"
        body +=
            "<p class=\"caption\">Singular values of W2 (perception → hidden), W1 (hidden → update) and of each kernel's block of W2 (the rows that read that kernel), log scale. A fast drop means a low-rank rule.</p>\n"
        var series = [
            SVGPlot.Series(
                name: "W2", points: w.w2.singularValues.enumerated().map { (Double($0.offset + 1), $0.element) },
                color: palette[0]),
            SVGPlot.Series(
                name: "W1", points: w.w1.singularValues.enumerated().map { (Double($0.offset + 1), $0.element) },
                color: palette[2]),
        ]
        for (k, block) in w.kernelBlocks.enumerated() {
            series.append(
                SVGPlot.Series(
                    name: "W2 block: \(w.kernels[k])",
                    points: block.singularValues.enumerated().map { (Double($0.offset + 1), $0.element) },
                    color: palette[(k + 3) % palette.count]))
        }
        body += SVGPlot.lines(series, xLabel: "index i", yLabel: "σ_i")
        let spectra =
            [("W2", w.w2), ("W1", w.w1)] + w.kernelBlocks.enumerated().map { ("W2 block \(w.kernels[$0.offset])", $0.element) }
        body +=
            "<table class=\"numbers\"><tr><th>matrix</th><th>σ₁</th><th>entropy rank</th><th>rank (σ > 10⁻³σ₁)</th><th>90% energy</th><th>99% energy</th></tr>"
        for (name, s) in spectra {
            body +=
                "<tr><td>\(e(name))</td><td>\(SVGPlot.format(s.singularValues.first ?? 0))</td><td>\(String(format: "%.2f", s.entropyRank))</td><td>\(s.thresholdRank) of \(s.singularValues.count)</td><td>\(s.directions(capturing: 0.9))</td><td>\(s.directions(capturing: 0.99))</td></tr>"
        }
        body += "</table>\n"
        return body
    }

    private var readsSection: String {
        let w = analysis.weights
        var body = ""
        body += "<h2>What the network reads</h2>\n"
        body +=
            "<p class=\"caption\">Importance of each (channel, kernel) pair: ‖W2[(c,k), :]‖, how strongly the hidden layer reads kernel k applied to channel c.</p>\n"
        body += SVGPlot.heatmap(w.importance, rowLabels: channelLabels, columnLabels: w.kernels)
        body +=
            "<p class=\"caption\">Per channel: read strength √Σ_k importance², written strength ‖W1[:, c]‖, bias v_c (colour: |v_c|), and read × written relative to the strongest channel (hidden channels near 0 can be pruned); each column has its own colour scale.</p>\n"
        body += SVGPlot.heatmap(
            (0..<w.channels).map { [w.channelRead[$0], w.channelWritten[$0], w.bias[$0], w.channelImportance[$0]] },
            rowLabels: channelLabels, columnLabels: ["read", "written", "bias", "importance"], perColumn: true, cell: 72)
        return body
    }

    private var directionsSection: String {
        let w = analysis.weights
        var body = ""
        body += "<h2>Top singular directions of W2</h2>\n"
        body +=
            "<p class=\"caption\">Each left singular vector u_i of W2 as a channel × kernel table (unit length; red positive, blue negative): a pattern of perceptions the hidden layer reads together, with weight σ_i.</p>\n"
        body += "<table><tr>"
        for (i, direction) in w.w2Directions.enumerated() {
            body += "<td>"
            body += SVGPlot.heatmap(
                direction.weights, rowLabels: channelLabels, columnLabels: w.kernels, diverging: true, cell: 48,
                caption: "u\(i + 1), σ = \(SVGPlot.format(direction.singularValue))")
            body += "</td>"
            if i % 2 == 1 { body += "</tr><tr>" }
        }
        body += "</tr></table>\n"
        return body
    }

    private var writesSection: String {
        let w = analysis.weights
        var body = ""
        body += "<h2>What the network writes</h2>\n"
        body +=
            "<p class=\"caption\">Right singular vectors of W1 (over the channels the update writes) and the strongest hidden units (‖W2[:, j]‖ · ‖W1[j, :]‖) with the channel each writes most.</p>\n"
        body += SVGPlot.heatmap(
            w.w1Directions.map(\.channelWeights),
            rowLabels: w.w1Directions.enumerated().map { "v\($0.offset + 1) σ=\(SVGPlot.format($0.element.singularValue))" },
            columnLabels: (0..<w.channels).map { "ch \($0)" }, diverging: true, cell: 44)
        body += "<table class=\"numbers\"><tr><th>unit</th><th>strength</th><th>writes mostly</th></tr>"
        for unit in w.hiddenUnits.prefix(12) {
            body +=
                "<tr><td>\(unit.index)</td><td>\(SVGPlot.format(unit.strength))</td><td>channel \(unit.mainChannel) (\(String(format: "%.0f", 100 * unit.mainChannelShare))%)</td></tr>"
        }
        if w.hiddenUnits.count > 12 { body += "<tr><td colspan=\"3\">… \(w.hiddenUnits.count - 12) weaker units</td></tr>" }
        body += "</table>\n"
        return body
    }

    private var stabilitySection: String {
        let e = SVGPlot.escape
        var body = ""
        let st = analysis.stability
        body += "<h2>Linear stability of a uniform state</h2>\n"
        body +=
            "<p class=\"caption\">About the uniform state (\(e(st.about.map { String(format: "%.3g", $0) }.joined(separator: ", ")))) on a \(st.size) × \(st.size) lattice: the growth rate log|λ| per step of the fastest eigenvalue of the linearised step at each wavenumber |k| (fastest over directions). Above 0 a perturbation of that wavelength grows.</p>\n"
        body += SVGPlot.lines(
            [
                SVGPlot.Series(
                    name: "max log|λ| per step", points: st.radial.map { ($0.wavenumber, $0.growthRate) }, color: palette[1])
            ],
            logY: false, xLabel: "wavenumber |k| (radians per cell)", yLabel: "growth rate per step")
        body +=
            "<table class=\"numbers\"><tr><th>mode</th><th>|k|</th><th>wavelength</th><th>growth rate</th><th>λ</th><th>channels</th></tr>"
        for (name, mode) in [("uniform", st.uniform), ("fastest", st.fastest)] {
            let weights = mode.channelWeights.enumerated().filter { $0.element >= 0.05 }.map {
                String(format: "%d: %.0f%%", $0.offset, 100 * $0.element)
            }
            .joined(separator: ", ")
            body +=
                "<tr><td>\(name)</td><td>\(String(format: "%.3f", mode.wavenumber))</td><td>\(mode.wavelength.map { String(format: "%.1f", $0) } ?? "∞")</td><td>\(String(format: "%.3g", mode.growthRate))</td><td>\(String(format: "%.4f%+.4fi", mode.eigenvalueReal, mode.eigenvalueImaginary))</td><td>\(weights)</td></tr>"
        }
        body += "</table>\n"
        if let amp = analysis.stateAmplification {
            let shares = { (w: [Double]) in
                w.enumerated().filter { $0.element >= 0.05 }.map { String(format: "%d: %.0f%%", $0.offset, 100 * $0.element) }
                    .joined(separator: ", ")
            }
            body +=
                "<p class=\"caption\">At the given state: the largest singular value of the Jacobian of \(amp.steps) step(s), σ_max = \(String(format: "%.5g", amp.amplification)) (\(String(format: "%.4g", exp(amp.growthRatePerStep))) per step; Lanczos, \(amp.iterations) vectors). The most amplified perturbation starts in channels \(shares(amp.inputChannelWeights)) and ends in \(shares(amp.outputChannelWeights)).</p>\n"
        }
        return body
    }

    private var pruningSection: String {
        let e = SVGPlot.escape
        var body = ""
        if let pruning = analysis.pruning {
            body += "<h2>Pruning check</h2>\n"
            body +=
                "<p class=\"caption\">Mean \(e(pruning.lossFunction)) rollout loss over \(pruning.snapshots) snapshots (t = \(pruning.timeSampling)) with parts of the model zeroed.</p>\n"
            body += "<table class=\"numbers\"><tr><th>variant</th><th>loss</th><th>change</th><th>what was removed</th></tr>"
            for variant in pruning.variants {
                let loss = variant.loss.map { String(format: "%.5g", $0) } ?? "diverged"
                let change = variant.relativeChange.map { String(format: "%+.1f%%", 100 * $0) } ?? "–"
                body += "<tr><td>\(e(variant.name))</td><td>\(loss)</td><td>\(change)</td><td>\(e(variant.description))</td></tr>"
            }
            body += "</table>\n"
        }
        return body
    }
}
