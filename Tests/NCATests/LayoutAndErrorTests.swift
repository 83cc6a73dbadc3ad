import Foundation
import Testing

@testable import NCA

@Suite("Run-folder layout and setting errors")
struct LayoutAndErrorTests {
    @Test("a metrics row round-trips through its CSV line; older and damaged lines read as far as they go")
    func metricsRowRoundTrip() throws {
        let model = NCAModel<Float>(configuration: ModelConfiguration(), seed: 0)
        var report = EpochReport(
            epoch: 7, loss: 0.123456789012, rangePenalty: 1e-9, gradientNorm: 3.5, learningRate: 1e-3, modelBeforeUpdate: model)
        for validation in [nil, 0.25] as [Double?] {
            report.validationLoss = validation
            let row = MetricsRow(report, wallTime: 12.3456)
            let parsed = try #require(MetricsRow(line: Substring(row.line)))
            #expect(parsed.epoch == 7 && parsed.loss == report.loss && parsed.gradientNorm == 3.5)
            #expect(parsed.rangePenalty == 1e-9 && parsed.validationLoss == validation && parsed.wallTime == 12.346)
            #expect(row.line.split(separator: ",", omittingEmptySubsequences: false).count == 7)
        }
        let header = RunFolder.metricsHeader.split(separator: ",")
        #expect(header.count == 7 && header.first == "epoch" && header.last == "validation_loss")
        #expect(MetricsRow(line: Substring(RunFolder.metricsHeader)) == nil)
        #expect(MetricsRow(line: "3,0.5")?.validationLoss == nil)
        #expect(MetricsRow(line: "x,0.5") == nil && MetricsRow(line: "4") == nil)
        let rows = MetricsRow.rows(of: RunFolder.metricsHeader + "\n1,2,3,4,5,6,\n2,1.5,3,4,5,6,0.7\n")
        #expect(rows.map(\.epoch) == [1, 2] && rows.map(\.validationLoss) == [nil, 0.7])
        let folder = RunFolder("/r")
        #expect(folder.snapshot(epoch: 42) == "/r/snapshots/epoch-000042.safetensors" && folder.metrics == "/r/metrics.csv")
    }

    @Test("library errors name settings in words; a front end spells them its own way")
    func settingErrorsAreSpelledByTheCaller() throws {
        var configuration = TrainingConfiguration(model: ModelConfiguration())
        configuration.timeSampling = 0
        let error = try #require(throws: ConfigurationError.self) { try configuration.validate() }
        #expect(error.description == "the time sampling t must be at least 1 (got 0)")
        #expect(error.message(naming: { "<\($0.rawValue)>" }) == "<timeSampling> must be at least 1 (got 0)")
        let divergence = DivergenceError(epoch: 3, quantity: "the loss is NaN")
        #expect(!divergence.description.contains("--") && divergence.description.contains("the learning rate"))
        #expect(divergence.message(naming: { "-" + $0.rawValue }).contains("Lower -learningRate"))
        let npy = FileError.invalid(
            path: "p", problem: "bad", fix: .init(before: "pick one with", setting: .frame, after: " (0 … 2)"))
        #expect(npy.description == "p: bad; pick one with the frame (0 … 2)")
        #expect(FileError.invalid(path: "p", problem: "bad").description == "p: bad")
        for setting in Setting.allCases { #expect(!setting.name.isEmpty && !setting.name.contains("--")) }
    }
}
