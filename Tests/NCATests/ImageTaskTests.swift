import Foundation
import Testing

@testable import NCA

@Suite("Image task: pictures, data and augmentation")
struct ImageTaskTests {
    /// A picture whose channel k at (x, y) is `value(x, y, k)`.
    func picture(_ width: Int, _ height: Int, _ value: (Int, Int, Int) -> Double) -> Picture {
        var values: [Double] = []
        for y in 0..<height { for x in 0..<width { for k in 0..<4 { values.append(value(x, y, k)) } } }
        return Picture(width: width, height: height, values: values)
    }

    @Test func premultipliesAlpha() {
        let image = RGBAImage(width: 1, height: 1, pixels: [200, 100, 50, 128])
        let p = Picture(image)
        let alpha = 128.0 / 255
        #expect(abs(p.values[0] - 200.0 / 255 * alpha) < 1e-12 && abs(p.values[2] - 50.0 / 255 * alpha) < 1e-12)
        #expect(abs(p.values[3] - alpha) < 1e-12)
        #expect(Picture(RGBAImage(width: 1, height: 1, pixels: [255, 255, 255, 0])).values == [0, 0, 0, 0])
    }

    @Test func resizingByHand() {
        // 4 × 4 → 2 × 2: each output is the mean of a 2 × 2 block.
        let big = picture(4, 4) { x, y, k in Double(x + 4 * y + 16 * k) }
        let half = big.resampled(width: 2, height: 2)
        for k in 0..<4 {
            #expect(abs(half.values[0 * 4 + k] - (2.5 + Double(16 * k))) < 1e-12)  // (0 + 1 + 4 + 5) / 4
            #expect(abs(half.values[3 * 4 + k] - (12.5 + Double(16 * k))) < 1e-12)  // (10 + 11 + 14 + 15) / 4
        }
        // 3 × 3 → 2 × 2: output (0, 0) covers source [0, 1.5)²: weights 1, ½, ½, ¼ over 2.25.
        let three = picture(3, 3) { x, y, _ in Double(x + 3 * y) }
        let two = three.resampled(width: 2, height: 2)
        let expected = (0.0 * 1 + 1 * 0.5 + 3 * 0.5 + 4 * 0.25) / 2.25
        #expect(abs(two.values[0] - expected) < 1e-12)
        // 2 × 1 → 4 × 1 enlarges bilinearly with pixel centres aligned: a, ¾a + ¼b, ¼a + ¾b, b.
        let pair = picture(2, 1) { x, _, _ in x == 0 ? 1 : 5 }
        let wide = pair.resampled(width: 4, height: 1)
        #expect((0..<4).map { wide.values[4 * $0] } == [1, 2, 4, 5])
        // Fitting keeps the aspect ratio and centres: a 4 × 2 picture in an 8 × 8 square.
        let fitted = picture(4, 2) { _, _, _ in 1 }.fitted(to: 8)
        let rows = (0..<8).map { y in fitted.values[(y * 8 + 3) * 4 + 3] }
        #expect(rows == [0, 0, 1, 1, 1, 1, 0, 0])
    }

    @Test func sequenceShapesShiftsAndHold() {
        let pictures = ImageSequence.builtinPictures(size: 10)
        #expect(pictures.count == 3 && pictures.allSatisfy { $0.values.contains { $0 > 0.5 } })
        #expect(pictures[0] != pictures[1] && pictures[1] != pictures[2])
        let sequence = ImageSequence(pictures: pictures, size: 10, pad: 3, copies: 5, holdLast: 2, seed: 4)
        let t = sequence.trajectory()
        let s = 16
        #expect(t.shape == [5, 5, s, s, 4])
        let lattice = s * s * 4
        func frame(_ m: Int, _ r: Int) -> [Float] { Array(t.scalars[((m * 5 + r) * lattice)..<((m * 5 + r + 1) * lattice)]) }
        // The last picture is held: frames 2, 3, 4 are equal.
        #expect(frame(2, 1) == frame(3, 1) && frame(3, 1) == frame(4, 1))
        // Entry 0 is centred; the others are shifted within the padding, content never lost.
        #expect(sequence.shifts[0] == (0, 0))
        let mass = frame(0, 0).reduce(0, +)
        for r in 0..<5 {
            let (di, dj) = sequence.shifts[r]
            #expect(abs(di) <= 3 && abs(dj) <= 3)
            #expect(abs(frame(0, r).reduce(0, +) - mass) < 1e-3)
            #expect(frame(0, r) == LatticeOps.shifted(frame(0, 0), size: s, channels: 4, by: di, dj))
        }
        // Seeded: the same seed gives the same data, another seed other shifts.
        #expect(ImageSequence(pictures: pictures, size: 10, pad: 3, copies: 5, holdLast: 2, seed: 4).trajectory() == t)
        let other = ImageSequence(pictures: pictures, size: 10, pad: 3, copies: 5, holdLast: 2, seed: 5).shifts
        #expect(zip(other, sequence.shifts).contains { $0.0 != $0.1 })
    }

    func imageConfiguration(_ augmentation: Augmentation?) -> TrainingConfiguration {
        var cfg = TrainingConfiguration(
            model: ModelConfiguration(
                channels: 6, observableChannels: 4, kernels: [.identity, .gradX, .laplacian], hiddenSize: 8, boundary: .zero,
                skipProbability: 0.5))
        cfg.timeSampling = 3
        cfg.minibatchSize = 3
        cfg.seed = 21
        cfg.augmentation = augmentation
        return cfg
    }

    func smallData() -> Tensor<Float> {
        ImageSequence(pictures: ImageSequence.builtinPictures(size: 6), size: 6, pad: 4, copies: 3, holdLast: 1, seed: 1)
            .trajectory()
    }

    @Test func augmentationKeepsTheReferenceAndTheContent() {
        let data = smallData()
        let s = data.shape[2]
        let lattice = s * s * 4
        for (shift, rotate, flip) in [(true, false, false), (false, true, false), (false, false, true), (true, true, true)] {
            let trainer = Trainer(
                configuration: imageConfiguration(Augmentation(every: 2, shift: shift, rotate: rotate, flip: flip)), data: data)
            let block0 = trainer.trainingData(epoch: 0)
            #expect(trainer.trainingData(epoch: 1) == block0)  // same block
            let block1 = trainer.trainingData(epoch: 2)
            #expect(block1 != block0, "shift \(shift) rotate \(rotate) flip \(flip): a new block re-draws")
            for f in 0..<data.shape[0] {
                // Entry 0 is the un-augmented reference.
                let start = (f * 3) * lattice
                #expect(Array(block0.scalars[start..<(start + lattice)]) == Array(data.scalars[start..<(start + lattice)]))
                for r in 1..<3 {
                    let base = (f * 3 + r) * lattice
                    let before = data.scalars[base..<(base + lattice)].reduce(0, +)
                    let after = block0.scalars[base..<(base + lattice)].reduce(0, +)
                    // Shifts and flips move content without losing any; a rotation resamples it
                    // (bilinear), keeping the total close while the picture stays inside.
                    #expect(abs(after - before) <= (rotate ? 0.05 * before : 1e-3), "frame \(f) entry \(r): \(before) → \(after)")
                }
            }
            // Reproducible from the seed alone.
            let again = Trainer(
                configuration: imageConfiguration(Augmentation(every: 2, shift: shift, rotate: rotate, flip: flip)), data: data)
            #expect(again.trainingData(epoch: 2) == block1)
        }
    }

    @Test func augmentedTrainingIsRepeatableAndResumable() throws {
        let data = smallData()
        let augmentation = Augmentation(noise: 0.02, every: 2, shift: true, rotate: true, flip: true)
        let whole = Trainer(configuration: imageConfiguration(augmentation), data: data)
        var losses: [Double] = []
        for _ in 0..<5 { losses.append(try whole.runEpoch().loss) }
        // Stopped after epoch 3 and continued from its state: the same run, bit for bit.
        let first = Trainer(configuration: imageConfiguration(augmentation), data: data)
        for _ in 0..<3 { _ = try first.runEpoch() }
        let resumed = Trainer(configuration: imageConfiguration(augmentation), data: data, state: first.state)
        for _ in 0..<2 { _ = try resumed.runEpoch() }
        #expect(resumed.state == whole.state)
        // With a pool of states (damaged too), and through a checkpoint file.
        var pooled = imageConfiguration(augmentation)
        pooled.pool = 3
        pooled.poolReach = 2
        pooled.poolDamage = 0.5
        let wholePool = Trainer(configuration: pooled, data: data)
        for _ in 0..<5 { _ = try wholePool.runEpoch() }
        let firstPool = Trainer(configuration: pooled, data: data)
        for _ in 0..<3 { _ = try firstPool.runEpoch() }
        let bytes = Checkpoint.encode(firstPool.state, elapsedSeconds: 1).encode()
        let saved = try Checkpoint.decode(Safetensors.decode(bytes), path: "<memory>").state
        #expect(saved == firstPool.state && saved.pool != nil)
        let resumedPool = Trainer(configuration: pooled, data: data, state: saved)
        for _ in 0..<2 { _ = try resumedPool.runEpoch() }
        #expect(resumedPool.state == wholePool.state)
        #expect(wholePool.state.model != whole.state.model)
        // Noise changes what the model sees.
        let clean = Trainer(
            configuration: imageConfiguration(Augmentation(noise: 0, every: 2, shift: true, rotate: true, flip: true)), data: data
        )
        #expect(try clean.runEpoch().loss != losses[0])
    }
}

@Suite("Image task through the binary", .serialized)
struct ImageTaskBinaryTests {
    let binary = BinaryTests()

    @Test func dataImagesAndMorphPreset() throws {
        let dir = temporaryFolder()
        var r = try binary.nca([
            "data", "images", "--builtin", "--size", "8", "--pad", "2", "--copies", "3", "--out", dir + "/t.npy",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(try NPY.read(dir + "/t.npy").shape == [4, 3, 12, 12, 4])
        r = try binary.nca([
            "data", "images", fixture("png_palette.png"), fixture("png_rgba16.png"), "--size", "4", "--pad", "1", "--hold-last",
            "0",
            "--out", dir + "/p.npy",
        ])
        #expect(r.status == 0 && r.output.contains("8-bit palette; converted") && r.output.contains("16-bit RGBA"), "\(r.output)")
        #expect(try NPY.read(dir + "/p.npy").shape == [2, 8, 6, 6, 4])

        r = try binary.nca([
            "train", "--preset", "morph", "--epochs", "3", "--image-size", "6", "--pad", "2", "--copies", "2", "--hidden", "8",
            "--rotate-augment", "on", "--out", dir + "/run",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("best model past the horizon: loss to the last frame"), "\(r.output)")
        let config = try String(contentsOfFile: dir + "/run/config.json", encoding: .utf8)
        #expect(
            config.contains("\"augmentation\"") && config.contains("\"rotate\" : true") && config.contains("\"noise\" : 0.1"),
            "\(config)")
        // The attractor recipe (Sources/NCA/NCA.docc/MorphPictures.md) is the preset's default.
        for setting in [
            "\"pool\" : 8", "\"trainOutputBias\" : false", "\"rangePenalty\" : 0.01", "\"minibatchSize\" : 8",
            "\"validateReach\" : 8", "\"validateHold\" : true", "\"update\" : \"per-minibatch\"",
        ] {
            #expect(config.contains(setting), "\(setting) missing from \(config)")
        }
        let report = try String(contentsOfFile: dir + "/run/report.html", encoding: .utf8)
        #expect(report.contains("(beyond)"))
        r = try binary.nca([
            "rollout", "--model", dir + "/run/model.safetensors", "--init", dir + "/run/data.npy", "--frame", "0", "--steps", "4",
            "--every",
            "2", "--out", dir + "/roll",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(FileManager.default.fileExists(atPath: dir + "/roll/rollout.gif"))
    }
}

extension BinaryTests {
    @Test("nca data images defaults to the paper's Fig 7 frames: three pictures, the last shown twice")
    func imagesDefaultToFourFrames() throws {
        let dir = temporaryFolder()
        let r = try nca(["data", "images", "--builtin", "--size", "8", "--pad", "1", "--copies", "2", "--out", dir + "/t.npy"])
        #expect(r.status == 0, "\(r.error)")
        let t = try NPY.read(dir + "/t.npy").tensor(as: Float.self)
        #expect(t.shape == [4, 2, 10, 10, 4])
        let frame = 2 * 10 * 10 * 4
        #expect(Array(t.scalars[(2 * frame)..<(3 * frame)]) == Array(t.scalars[(3 * frame)..<(4 * frame)]))
    }
}
