import Foundation
import NCA

/// Set by SIGINT/SIGTERM; the training loop checks it between epochs.
enum Interrupt {
    nonisolated(unsafe) static var requested = false

    static func install() {
        signal(SIGINT) { _ in Interrupt.requested = true }
        signal(SIGTERM) { _ in Interrupt.requested = true }
        // A parent may have started us with these signals blocked (the mask is inherited);
        // unblock them so Ctrl-C and `kill` reach the handler.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

/// Prints training progress: a live line on a terminal, plain lines otherwise.
final class ProgressPrinter: TrainingObserver {
    private let isTerminal = isatty(STDOUT_FILENO) == 1
    private var lastPrint = Date.distantPast
    private let startEpoch: Int
    private let startTime = Date()
    private var pendingNewline = false

    /// `startEpoch`: epochs already done when this session started (for the rate and ETA).
    init(startEpoch: Int, bestValidation: Double = .infinity) {
        self.startEpoch = startEpoch
        self.bestValidation = bestValidation
    }

    private var bestValidation: Double

    func epochFinished(_ report: EpochReport, bestLoss: Double, elapsedSeconds: Double, totalEpochs: Int) {
        if let validation = report.validationLoss { bestValidation = min(bestValidation, validation) }
        let done = report.epoch - startEpoch
        let seconds = Date().timeIntervalSince(startTime)
        let rate = Double(done) / max(seconds, 1e-9)
        let remaining = Double(totalEpochs - report.epoch) / max(rate, 1e-9)
        let best =
            bestValidation.isFinite
            ? String(format: "validation best %.5g", bestValidation) : String(format: "best %.5g", bestLoss)
        let text = String(
            format: "epoch %d/%d  loss %.5g  %@  |g| %.3g  %.3g epochs/s  ETA %@", report.epoch, totalEpochs, report.loss, best,
            report.gradientNorm, rate, formatDuration(remaining))
        let now = Date()
        if isTerminal {
            if now.timeIntervalSince(lastPrint) >= 0.1 || report.epoch == totalEpochs {
                writeOut("\r\u{1B}[2K" + text)
                pendingNewline = true
                lastPrint = now
            }
        } else if now.timeIntervalSince(lastPrint) >= 1 || report.epoch == totalEpochs {
            writeOut(text + "\n")
            lastPrint = now
        }
    }

    func checkpointWritten(epoch: Int) {}

    func rolledBack(_ error: DivergenceError, toEpoch epoch: Int, learningRateScale: Double) {
        finish()
        writeOut(
            "\(userMessage(error).components(separatedBy: ";").first ?? "diverged"); rolled back to epoch \(epoch), "
                + "learning rate now × \(learningRateScale)\n")
    }

    func finish() {
        if pendingNewline { writeOut("\n") }
        pendingNewline = false
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
}
