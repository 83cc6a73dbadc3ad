import ArgumentParser
import Foundation
import NCA

/// Starting a new run: its data (a preset's own, or files), its folder and configuration.
extension TrainCommand {
    func startRun() throws -> TrainingRun {
        let modelConfiguration = try model.configuration(defaults: preset?.modelDefaults ?? ModelConfiguration())
        let training = trainingConfiguration(modelConfiguration: modelConfiguration)
        let trainingData: Tensor<Float>
        var test: Tensor<Float>?
        let source: String
        var testSource: String?
        switch preset {
        case .grayScott:
            let made = TrainingPreset.grayScottData(timeSampling: timeSampling)
            trainingData = made.training
            source = "nca data gray-scott --init paper --size 64 --steps \(made.trainingSteps) --time-sampling \(timeSampling)"
            test = made.test
            testSource =
                "nca data gray-scott --init paper-test --size 64 --steps \(made.testSteps) --time-sampling \(timeSampling)"
        case .morph:
            guard modelConfiguration.observableChannels == 4 else {
                throw ValidationError("--preset morph makes RGBA data: the model needs --observable 4")
            }
            let layout = pictureLayout.layout(defaults: TrainingPreset.morph.pictureLayout!)
            let pictures =
                images.isEmpty
                ? ImageSequence.builtinPictures(size: layout.size)
                : try images.map { Picture(try PNG.read($0)) }
            let sequence = ImageSequence(pictures: pictures, layout: layout, seed: seed)
            trainingData = sequence.trajectory()
            source =
                "nca data images \(images.isEmpty ? "--builtin" : images.joined(separator: " ")) --size \(layout.size) --pad \(layout.pad) --copies \(layout.copies) --hold-last \(layout.holdLast) --seed \(seed)"
        case nil:
            trainingData = try TrajectoryFile.read(
                data!, observable: modelConfiguration.observableChannels, channels: modelConfiguration.channels)
            source = data!
        }
        if let testData {
            test = try TrajectoryFile.read(
                testData, observable: modelConfiguration.observableChannels, channels: modelConfiguration.channels)
            testSource = testData
        }
        let folder = out ?? defaultFolder()
        if FileManager.default.fileExists(atPath: folder + "/config.json") {
            throw ValidationError(
                "\(folder) already holds a training run; continue it with --resume \(folder) or choose another --out")
        }
        let run = try TrainingRun(
            newRunIn: folder,
            configuration: RunConfiguration(
                training: training, preset: preset?.rawValue, dataSource: source, dataShape: trainingData.shape,
                testDataSource: testSource, toolkitVersion: NCACommand.version),
            data: trainingData, testData: test)
        say(
            "training into \(folder): \(trainingData.shape[0] - 1) × \(trainingData.shape[1]) transitions of \(training.timeSampling) steps, \(training.epochs) epochs"
        )
        return run
    }

    func defaultFolder() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let name = preset?.rawValue ?? URL(fileURLWithPath: data ?? "run").deletingPathExtension().lastPathComponent
        return "runs/\(formatter.string(from: Date()))-\(name)"
    }
}
