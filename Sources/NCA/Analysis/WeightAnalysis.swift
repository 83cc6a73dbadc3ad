import Foundation

/// A singular spectrum and the numbers that summarise it.
public struct Spectrum: Codable, Equatable, Sendable {
    /// Singular values σ_1 ≥ σ_2 ≥ … ≥ 0.
    public var singularValues: [Double]
    /// `cumulativeEnergy[k − 1]`: the fraction of Σσ² captured by the top k directions.
    public var cumulativeEnergy: [Double]
    /// exp(H(p)) with p_i = σ_i / Σσ_j: 1 for a rank-one matrix, r when all σ are equal
    /// (Roy & Vetterli's effective rank).
    public var entropyRank: Double
    /// How many σ_i exceed `relativeThreshold` · σ_1.
    public var thresholdRank: Int

    /// Singular values below this fraction of the largest do not count towards the effective rank.
    public static let relativeThreshold = 1e-3

    /// The spectrum of the singular values `s` (largest first).
    public init(singularValues s: [Double]) {
        singularValues = s
        let energy = s.reduce(0) { $0 + $1 * $1 }
        var running = 0.0
        cumulativeEnergy = s.map { value in
            running += value * value
            return energy > 0 ? running / energy : 0
        }
        let total = s.reduce(0, +)
        var entropy = 0.0
        if total > 0 {
            for value in s where value > 0 {
                let p = value / total
                entropy -= p * Foundation.log(p)
            }
        }
        entropyRank = total > 0 ? Foundation.exp(entropy) : 0
        let top = s.first ?? 0
        thresholdRank = top > 0 ? s.filter { $0 > Spectrum.relativeThreshold * top }.count : 0
    }

    /// The smallest k whose top-k directions capture `fraction` of the energy (0 for a zero matrix).
    public func directions(capturing fraction: Double) -> Int {
        guard let k = cumulativeEnergy.firstIndex(where: { $0 >= fraction - 1e-12 }) else { return 0 }
        return k + 1
    }
}

/// What the singular value decompositions of W2 and W1 say about a model (paper §4, SPEC
/// "Analysis"): spectra, which (channel, kernel) pairs the network reads, which channels it
/// writes, and which hidden units and hidden channels carry the rule.
///
/// With W2 = U Σ Vᵀ (K·C × H), row (c, k) of W2 is how strongly the network reads kernel k of
/// channel c; its norm ‖W2[(c,k), :]‖ = √(Σ_i σ_i² U[(c,k), i]²) is the importance of that pair.
public struct WeightAnalysis: Codable, Sendable {
    /// One of the top singular directions of W2: the unit left vector u_i as a C × K table.
    public struct PerceptionDirection: Codable, Equatable, Sendable {
        /// σ_i, the singular value of this direction.
        public var singularValue: Double
        /// `weights[c][k]`: component of u_i on (channel c, kernel k); Σ weights² = 1.
        public var weights: [[Double]]
        /// The pairs with the largest |component|, e.g. "channel 1 laplacian (+0.91)".
        public var leading: [String]
    }

    /// One of the top singular directions of W1: the unit right vector over channels it writes.
    public struct OutputDirection: Codable, Equatable, Sendable {
        /// σ_i, the singular value of this direction.
        public var singularValue: Double
        /// Per channel, the squared component of the right singular vector (sums to 1).
        public var channelWeights: [Double]
    }

    /// A hidden unit j of the dense network: ‖W2[:, j]‖ · ‖W1[j, :]‖ and the channel it writes most.
    public struct HiddenUnit: Codable, Equatable, Sendable {
        /// j, the unit's index in the hidden layer.
        public var index: Int
        /// ‖W2[:, j]‖ · ‖W1[j, :]‖.
        public var strength: Double
        /// The channel the unit writes most.
        public var mainChannel: Int
        /// Fraction of ‖W1[j, :]‖² that goes to `mainChannel`.
        public var mainChannelShare: Double
    }

    /// C, the model's channels.
    public var channels: Int
    /// O, the observable channels.
    public var observableChannels: Int
    /// The perception kernels, by name.
    public var kernels: [String]
    /// H, the hidden width.
    public var hiddenSize: Int
    /// Singular values of W2 (K·C × H).
    public var w2: Spectrum
    /// Singular values of W1 (H × C).
    public var w1: Spectrum
    /// Spectrum of each kernel's block of W2 (the C × H rows that read that kernel), in kernel order.
    public var kernelBlocks: [Spectrum]
    /// The top singular directions of W2.
    public var w2Directions: [PerceptionDirection]
    /// The top singular directions of W1.
    public var w1Directions: [OutputDirection]
    /// `importance[c][k]` = ‖W2[(c,k), :]‖.
    public var importance: [[Double]]
    /// How strongly each channel is read: √(Σ_k importance[c][k]²).
    public var channelRead: [Double]
    /// How strongly each channel is written: ‖W1[:, c]‖.
    public var channelWritten: [Double]
    /// The bias v.
    public var bias: [Double]
    /// Read × written, relative to the largest over all channels (1 = the most important). A
    /// hidden channel that is never read, or never written (and has no bias), does not affect
    /// the observable channels and can be pruned.
    public var channelImportance: [Double]
    /// Hidden units, strongest first.
    public var hiddenUnits: [HiddenUnit]
    /// The findings in words.
    public var sentences: [String]

    /// Hidden channels below this fraction of the most important channel are called prunable.
    public static let pruneThreshold = 0.05

    /// Analyses the weights of `model` (SVDs by LAPACK).
    public init(_ model: NCAModel<Double>) throws(LinearAlgebraError) {
        let cfg = model.configuration
        let (c, h, kCount) = (cfg.channels, cfg.hiddenSize, cfg.kernels.count)
        let kc = cfg.perceptionSize
        channels = c
        observableChannels = cfg.observableChannels
        kernels = cfg.kernels.map(\.rawValue)
        hiddenSize = h
        let w2Matrix = model.w2.scalars
        let w1Matrix = model.w1.scalars

        let w2SVD = try LinearAlgebra.svd(model.w2)
        let w1SVD = try LinearAlgebra.svd(model.w1)
        w2 = Spectrum(singularValues: w2SVD.singularValues)
        w1 = Spectrum(singularValues: w1SVD.singularValues)
        var blocks: [Spectrum] = []
        for k in 0..<kCount {
            var block = [Double](repeating: 0, count: c * h)
            for ch in 0..<c { for j in 0..<h { block[ch * h + j] = w2Matrix[(ch * kCount + k) * h + j] } }
            blocks.append(Spectrum(singularValues: try LinearAlgebra.svd(Tensor(shape: [c, h], scalars: block)).singularValues))
        }
        kernelBlocks = blocks

        let r2 = w2SVD.singularValues.count
        let names = cfg.kernels.map(\.rawValue)
        w2Directions = (0..<min(4, r2)).map { i in
            var table = [[Double]](repeating: [Double](repeating: 0, count: kCount), count: c)
            var pairs: [(String, Double)] = []
            for ch in 0..<c {
                for k in 0..<kCount {
                    let value = w2SVD.u.scalars[(ch * kCount + k) * r2 + i]
                    table[ch][k] = value
                    pairs.append(("channel \(ch) \(names[k])", value))
                }
            }
            let leading = pairs.sorted { abs($0.1) > abs($1.1) }.prefix(3).filter { abs($0.1) >= 0.1 }.map {
                String(format: "%@ (%+.2f)", $0.0, $0.1)
            }
            return PerceptionDirection(singularValue: w2SVD.singularValues[i], weights: table, leading: leading)
        }
        let r1 = w1SVD.singularValues.count
        w1Directions = (0..<min(4, r1)).map { i in
            OutputDirection(
                singularValue: w1SVD.singularValues[i], channelWeights: (0..<c).map { w1SVD.vt.scalars[i * c + $0] })
        }

        var table = [[Double]](repeating: [Double](repeating: 0, count: kCount), count: c)
        for ch in 0..<c {
            for k in 0..<kCount {
                let row = (ch * kCount + k) * h
                table[ch][k] = (0..<h).reduce(0) { $0 + w2Matrix[row + $1] * w2Matrix[row + $1] }.squareRoot()
            }
        }
        importance = table
        let read = table.map { row in row.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let written = (0..<c).map { ch in (0..<h).reduce(0) { $0 + w1Matrix[$1 * c + ch] * w1Matrix[$1 * c + ch] }.squareRoot() }
        channelRead = read
        channelWritten = written
        bias = model.v.scalars
        let products = (0..<c).map { read[$0] * written[$0] }
        let largest = products.max() ?? 0
        channelImportance = products.map { largest > 0 ? $0 / largest : 0 }

        var units: [HiddenUnit] = []
        for j in 0..<h {
            let inNorm = (0..<kc).reduce(0) { $0 + w2Matrix[$1 * h + j] * w2Matrix[$1 * h + j] }.squareRoot()
            let outSquares = (0..<c).map { w1Matrix[j * c + $0] * w1Matrix[j * c + $0] }
            let outTotal = outSquares.reduce(0, +)
            let main = outSquares.indices.max { outSquares[$0] < outSquares[$1] } ?? 0
            units.append(
                HiddenUnit(
                    index: j, strength: inNorm * outTotal.squareRoot(), mainChannel: main,
                    mainChannelShare: outTotal > 0 ? outSquares[main] / outTotal : 0))
        }
        hiddenUnits = units.sorted { $0.strength > $1.strength || ($0.strength == $1.strength && $0.index < $1.index) }
        sentences = []
        sentences = describe(kernelsUsed: cfg.kernels)
    }

    /// Hidden units needed for `fraction` of the total strength.
    public func hiddenUnits(capturing fraction: Double) -> Int {
        let total = hiddenUnits.reduce(0) { $0 + $1.strength }
        guard total > 0 else { return 0 }
        var running = 0.0
        for (i, unit) in hiddenUnits.enumerated() {
            running += unit.strength
            if running >= fraction * total - 1e-12 { return i + 1 }
        }
        return hiddenUnits.count
    }

    /// Hidden (non-observable) channels whose importance is below `pruneThreshold`.
    public var prunableChannels: [Int] {
        (observableChannels..<channels).filter { channelImportance[$0] < WeightAnalysis.pruneThreshold }
    }

    /// The share of channel c's reading that goes through kernel k: importance² / read².
    public func kernelShare(channel ch: Int, kernel k: Int) -> Double {
        channelRead[ch] > 0 ? importance[ch][k] * importance[ch][k] / (channelRead[ch] * channelRead[ch]) : 0
    }

    static func meaning(_ kernel: Kernel) -> String {
        switch kernel {
        case .identity: return "local, reaction-like (the cell's own value)"
        case .average: return "smoothing (the neighbourhood average)"
        case .gradX, .gradY: return "directional, advection-like (breaks rotation symmetry)"
        case .laplacian: return "diffusive (curvature)"
        }
    }

    private func describe(kernelsUsed: [Kernel]) -> [String] {
        var out: [String] = []
        let r2 = w2.singularValues.count
        if w2.singularValues.first ?? 0 == 0 {
            out.append("W2 is zero: the network reads nothing and the update is the constant bias v.")
        } else {
            out.append(
                String(
                    format:
                        "W2 (%d × %d) has effective rank %.1f of %d (entropy); %d direction(s) capture 90%% and %d capture 99%% of its energy.",
                    channels * kernels.count, hiddenSize, w2.entropyRank, r2, w2.directions(capturing: 0.9),
                    w2.directions(capturing: 0.99)))
        }
        if w1.singularValues.first ?? 0 == 0 {
            out.append("W1 is zero: the update writes only the bias v (an untrained model starts here).")
        } else {
            out.append(
                String(
                    format: "W1 (%d × %d) has effective rank %.1f of %d; %d direction(s) capture 90%% of its energy.", hiddenSize,
                    channels, w1.entropyRank, w1.singularValues.count, w1.directions(capturing: 0.9)))
        }
        let strongestRead = channelRead.max() ?? 0
        for ch in 0..<channels {
            let role = ch < observableChannels ? "observable" : "hidden"
            guard strongestRead > 0, channelRead[ch] > 1e-6 * strongestRead else {
                out.append("Channel \(ch) (\(role)) is not read by the network.")
                continue
            }
            let best = (0..<kernels.count).max { importance[ch][$0] < importance[ch][$1] }!
            let share = kernelShare(channel: ch, kernel: best)
            let meaning = WeightAnalysis.meaning(kernelsUsed[best])
            let qualifier = share >= 0.6 ? "mostly" : "most strongly, but not mainly,"
            out.append(
                String(
                    format: "Channel %d (%@) is read %@ through the %@ (%.0f%% of its weight): %@.", ch, role, qualifier,
                    kernels[best], 100 * share, meaning))
        }
        let prunable = prunableChannels
        if !prunable.isEmpty {
            out.append(
                "Hidden channel(s) \(prunable.map(String.init).joined(separator: ", ")) carry under \(Int(WeightAnalysis.pruneThreshold * 100))% of the most important channel's read × write strength: candidates for pruning."
            )
        } else if channels > observableChannels {
            out.append(
                "Every hidden channel carries at least \(Int(WeightAnalysis.pruneThreshold * 100))% of the most important channel's strength."
            )
        }
        let needed = hiddenUnits(capturing: 0.9)
        if needed > 0 {
            out.append("\(needed) of \(hiddenSize) hidden units carry 90% of the total path strength ‖W2[:,j]‖·‖W1[j,:]‖.")
        }
        return out
    }
}
