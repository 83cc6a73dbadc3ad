import ArgumentParser
import Foundation
import NCA

extension SweepCommand.Run {
    /// `--all --jobs N`: every configuration that is not finished, N at a time, each in a child
    /// `nca sweep run DIR --index I` (which skips, resumes or starts it exactly as in turn would)
    /// with its output in DIR/logs/NNN.log. Ctrl-C or SIGTERM stops launching, asks the running
    /// children to checkpoint and stop, waits for them and exits 130.
    func trainInParallel(_ plan: SweepPlan) throws {
        var pending = (0..<plan.count).filter {
            !FileManager.default.fileExists(atPath: RunFolder(SweepPlan.runFolder(in: folder, index: $0)).report)
        }
        if pending.isEmpty {
            say("every configuration of \(folder) is finished; nothing to do")
            return
        }
        let logs = folder + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        if environment["NCA_THREADS"] == nil {
            environment["NCA_THREADS"] = String(max(1, ProcessInfo.processInfo.activeProcessorCount / jobs))
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        say(
            "\(pending.count) of \(plan.count) configurations to train, \(jobs) at a time "
                + "(NCA_THREADS=\(environment["NCA_THREADS"]!) each); output in \(logs)/NNN.log")
        Interrupt.install()
        var running: [(index: Int, process: Process, started: Date)] = []
        var failed: [Int] = []
        var forwarded = false
        // Should this process fail, no child is left running on its own.
        defer {
            for child in running where child.process.isRunning {
                child.process.terminate()
                child.process.waitUntilExit()
            }
        }
        // After an interrupt nothing more is launched: wait for the running ones only.
        while !running.isEmpty || (!pending.isEmpty && !Interrupt.requested) {
            while running.count < jobs, !pending.isEmpty, !Interrupt.requested {
                let index = pending.removeFirst()
                let log = logs + String(format: "/%03d.log", index)
                // Appended to: a resumed configuration's log keeps its earlier sessions.
                guard FileManager.default.fileExists(atPath: log) || FileManager.default.createFile(atPath: log, contents: nil),
                    let output = FileHandle(forWritingAtPath: log)
                else {
                    throw FileError(path: log, problem: "cannot be written; is the sweep folder writable?", category: .failure)
                }
                output.seekToEndOfFile()
                let process = Process()
                process.executableURL = executable
                process.arguments = ["sweep", "run", folder, "--index", String(index)]
                process.environment = environment
                process.standardOutput = output
                process.standardError = output
                try process.run()
                try? output.close()
                running.append((index, process, Date()))
                say("configuration \(index) (\(plan.describe(index))): started, log \(log)")
            }
            if Interrupt.requested, !forwarded {
                // A terminal's Ctrl-C reaches the children too; a SIGTERM to this process does not.
                for child in running { child.process.terminate() }
                forwarded = true
                say("interrupted: the running configurations write a checkpoint and stop")
            }
            Thread.sleep(forTimeInterval: 0.05)
            // Those found ended once are reported and removed together (none is missed).
            let ended = Set(running.filter { !$0.process.isRunning }.map(\.index))
            for child in running where ended.contains(child.index) {
                let (line, succeeded) = outcome(of: child.process, index: child.index, started: child.started, plan, logs: logs)
                if !succeeded { failed.append(child.index) }
                say(line)
            }
            running.removeAll { ended.contains($0.index) }
        }
        if Interrupt.requested { throw ExitCode(130) }
        if !failed.isEmpty {
            throw RunFailure(
                message:
                    "configuration\(failed.count == 1 ? "" : "s") \(failed.map(String.init).joined(separator: ", ")) failed; their logs in \(logs) say why"
            )
        }
    }
}

extension SweepCommand.Run {
    /// The line that says how configuration `index`'s process ended, and whether it did its job
    /// (finished, or stopped at a checkpoint when asked to).
    fileprivate func outcome(
        of process: Process, index: Int, started: Date, _ plan: SweepPlan, logs: String
    ) -> (line: String, succeeded: Bool) {
        let status = process.terminationStatus
        let seconds = Date().timeIntervalSince(started)
        var line = "configuration \(index) (\(plan.describe(index))): "
        switch status {
        case 0:
            line +=
                seconds < 120
                ? String(format: "finished in %.0f s", seconds) : String(format: "finished in %.1f min", seconds / 60)
            let summary = try? RunSummary.read(from: RunFolder(SweepPlan.runFolder(in: folder, index: index)).summary)
            if let ratio = summary?.testRatio { line += String(format: ", test loss %.3g × do-nothing", ratio) }
            return (line, true)
        case 130 where process.terminationReason == .exit:
            return (line + "stopped (checkpoint written); run again to resume", true)
        default:
            line +=
                (process.terminationReason == .uncaughtSignal
                    ? "killed by signal \(status)" : "failed with exit status \(status)")
                + "; see " + logs + String(format: "/%03d.log", index)
            return (line, false)
        }
    }
}

/// A child training process failed; the message names it and where its log is.
struct RunFailure: NCAUserError {
    let message: String
    var category: ErrorCategory { .failure }
    var description: String { message }
}
