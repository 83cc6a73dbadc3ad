import Foundation
import NCA

extension TrainCommand {
    func writeReport(_ run: TrainingRun) throws {
        let state = run.trainer.state
        let t = run.configuration.training
        let o = t.model.observableChannels
        let final = state.model
        // best.safetensors: by rollout validation, or (older runs, --select-by training-loss)
        // by the training loss, which with propagated trajectories often means "barely trained".
        let best: NCAModel<Float> = (try? ModelFile.read(run.bestPath)) ?? final
        let bestEpoch = t.selection == .rollout ? state.bestValidationEpoch : state.bestEpoch
        let bestText =
            t.selection == .rollout && bestEpoch == 0
            ? "none of the validated models stayed within range up to \(t.validationReach) × the horizon, so best.safetensors is the last model (epoch \(state.epoch)); it is unstable: train longer, lower --lr, or check the data"
            : t.selection == .rollout
                ? String(
                    format:
                        "epoch %d, chosen by the lowest validation loss %.5g (free rollout from the training trajectories' first frames over %d steps, staying in range up to %d)",
                    bestEpoch, state.bestValidationLoss, (run.trainer.frames - 1) * t.timeSampling,
                    t.validationReach * (run.trainer.frames - 1) * t.timeSampling)
                : "epoch \(bestEpoch), chosen by the lowest training loss"
        var comparisons: [RunReport.Comparison] = []
        let first = run.trainer.data.trajectoryEntry(0)
        // From the first training trajectory, past the training horizon T = M·t (does the final
        // state stay put? run on to 8T) and from the test trajectory: kept in summary.json.
        let measured = RunSummary.measure(best, run: run)
        let (evaluation, extrapolation) = (measured.rollout, measured.extrapolation)
        comparisons.append(
            RunReport.Comparison(
                title: "Training trajectory (best model)",
                caption:
                    "best.safetensors (\(bestText)) run freely from the first training trajectory's initial state (hidden channels 0), "
                    + "compared with the data at every snapshot, and run on to \(Extrapolation.reach) × the training horizon (columns \"beyond\"): "
                    + extrapolation.summary + ".",
                data: first, evaluation: evaluation, extrapolation: extrapolation.frames))
        let curve = try run.lossCurve()
        var line =
            "done: \(state.epoch) epochs, last training loss \(String(format: "%.5g", curve.last?.loss ?? .nan)); best model: \(bestText)"
            + String(
                format: "\nbest model's rollout loss on the first training trajectory %.5g (do-nothing model: %.5g)",
                measured.summary.rolloutLoss, measured.summary.rolloutDoNothingLoss)
            + "\nbest model past the horizon: " + extrapolation.summary
        if let test = run.testData {
            let testFirst = test.trajectoryEntry(0)
            let steps = (testFirst.shape[0] - 1) * t.timeSampling
            let baseline = RolloutEvaluation.doNothingLoss(data: testFirst, observable: o, loss: t.loss)
            for (name, model) in [("best", best), ("final", final)] {
                let evaluation =
                    name == "best" && measured.test != nil
                    ? measured.test!
                    : RolloutEvaluation.evaluate(model, data: testFirst, timeSampling: t.timeSampling, loss: t.loss)
                comparisons.append(
                    RunReport.Comparison(
                        title: "Test: unseen initial condition (\(name) model)",
                        caption: "The \(name) model run from the test trajectory's initial state for \(steps) steps "
                            + "(\(run.configuration.testDataSource ?? "test data")).",
                        data: testFirst, evaluation: evaluation))
                line += String(
                    format: "\n%@ model's test loss %.5g over %d steps = %.3g × the do-nothing model's (%.5g)", name,
                    evaluation.meanLoss,
                    steps, evaluation.meanLoss / baseline, baseline)
            }
        }
        var report = RunReport(
            configuration: run.configuration, folderName: URL(fileURLWithPath: run.folder).lastPathComponent,
            curve: curve,
            bestEpoch: state.bestEpoch, bestLoss: state.bestLoss, comparisons: comparisons)
        report.validationCurve = try run.validationCurve()
        report.bestModel = bestText
        // summary.json before report.html: a folder with a report is finished, and has both.
        try measured.summary.write(to: run.files.summary)
        try report.write(to: run.reportPath)
        say(line)
        say("report: \(run.reportPath)")
    }
}
