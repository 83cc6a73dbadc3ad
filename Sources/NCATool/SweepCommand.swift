import ArgumentParser
import Foundation
import NCA

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train a grid of 'nca train' configurations: plan it, run any one of them, collect the results.",
        discussion: """
            nca sweep plan --grid "time-sampling=1,2,4;seed=0,1" --out DIR -- --preset gray-scott --epochs 500
            writes DIR/sweep.json and lists the numbered configurations (0 … N−1; the grid's last \
            option varies fastest). Everything after -- is given to every 'nca train'; the grid adds \
            --option value for each swept option. Each configuration trains into DIR/runs/NNN.

            nca sweep run DIR --index I trains configuration I, so one sweep can be spread over a \
            cluster's array job (--index $SLURM_ARRAY_TASK_ID; SGE counts from 1: \
            --index $((SGE_TASK_ID - 1))) or several shells; --all trains every configuration in \
            turn, --all --jobs N N of them at once (each on cores ÷ N threads). Running a finished configuration again does nothing; a stopped or killed one \
            resumes from its last checkpoint (as 'nca train --resume').

            nca sweep report DIR writes DIR/sweep.csv (one line per configuration: the swept values, \
            status, epochs, final and best training loss, best validation loss; for finished runs \
            best.safetensors' free rollout from the first training trajectory over the horizon T \
            as a ratio to the do-nothing model and how well it holds the last frame up to 8 T; and \
            for runs with test data its test loss, the ratio to the do-nothing model, and that ratio \
            in the Euclidean loss, one scale across losses) and \
            DIR/sweep.html (that table and plots of the losses against every swept option), for \
            every swept option DIR/sweep-OPTION.svg: each finished configuration's test loss (in the \
            Euclidean loss; without test data its rollout loss) as a ratio to the do-nothing model, \
            one line per value of the first other option that is not --seed (e.g. --time-sampling \
            against the ratio, a line per --loss: the paper's Fig 4; a model more than 100 × worse than \
            doing nothing, or not finite, blew up: a black dot at 100, out of the lines), and DIR/sweep-tables.md: \
            those ratios, the hold past T and the final training loss as tables, the first option \
            that is not --seed down, the next across, each cell listing its configurations seed by \
            seed. --rows-from FILE fills the configurations not started in DIR from another report \
            of the same grid (a sweep split over machines or sessions).
            """,
        subcommands: [Plan.self, Run.self, Report.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Expand a grid of 'nca train' options into numbered configurations (DIR/sweep.json).")

        @Option(
            help: ArgumentHelp(
                "Options and values to sweep: option=v1,v2;option=v1,… with the long names of 'nca train' options (values holding commas: separate them with |).",
                valueName: "grid"))
        var grid: String

        @Option(help: "The sweep folder (created; must not hold a sweep already).")
        var out: String

        @Argument(
            parsing: .postTerminator,
            help: "After --: the 'nca train' options every configuration shares (e.g. -- --preset gray-scott --epochs 500).")
        var trainOptions: [String] = []

        func validate() throws {
            let axes = try SweepPlan.parseGrid(grid)
            for option in ["--out", "--resume"] where trainOptions.contains(where: { $0 == option || $0.hasPrefix(option + "=") })
            {
                throw ValidationError("\(option) after -- is not allowed: the sweep gives every configuration its own folder")
            }
            for axis in axes where trainOptions.contains(where: { $0 == "--" + axis.option || $0.hasPrefix("--\(axis.option)=") })
            {
                throw ValidationError("--\(axis.option) is both swept by --grid and given after --; drop one")
            }
        }

        func run() throws {
            try reportingErrors {
                let plan = SweepPlan(
                    axes: try SweepPlan.parseGrid(grid), trainArguments: trainOptions, toolkitVersion: NCACommand.version)
                if FileManager.default.fileExists(atPath: SweepPlan.file(in: out)) {
                    throw ValidationError(
                        "\(out) already holds a sweep; run it with 'nca sweep run \(out) --index I' or choose another --out")
                }
                // Every configuration must be a valid 'nca train' command before anything is written.
                for index in 0..<plan.count {
                    do {
                        _ = try TrainCommand.parse(
                            plan.arguments(of: index) + ["--out", SweepPlan.runFolder(in: out, index: index)])
                    } catch {
                        throw ValidationError(
                            "configuration \(index) (\(plan.describe(index))) is not a valid 'nca train': "
                                + TrainCommand.message(for: error).split(separator: "\n").joined(separator: " "))
                    }
                }
                do {
                    try FileManager.default.createDirectory(atPath: out + "/runs", withIntermediateDirectories: true)
                } catch {
                    throw FileError(path: out, problem: "cannot create the sweep folder: \(error.localizedDescription)")
                }
                try plan.write(to: out)
                say(
                    "sweep of \(plan.count) configurations in \(out) (nca train \(plan.trainArguments.joined(separator: " ")) plus):"
                )
                for index in 0..<plan.count {
                    say(String(format: "  %3d  ", index) + plan.describe(index))
                }
                say("train one with 'nca sweep run \(out) --index I' (I = 0 … \(plan.count - 1)), or all with --all")
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train configuration I of a sweep (or all of them); finished ones are skipped, stopped ones resumed.")

        @Argument(help: "The sweep folder (made by 'nca sweep plan').")
        var folder: String

        @Option(help: "The configuration to train, 0 … N−1 (e.g. $SLURM_ARRAY_TASK_ID).")
        var index: Int?

        @Flag(help: "Train every configuration that is not finished, in order.")
        var all = false

        @Option(
            help: ArgumentHelp(
                "With --all: train N configurations at once, each in its own 'nca sweep run --index' process with the cores shared among them (NCA_THREADS = cores ÷ N unless set), its output in DIR/logs/NNN.log. Small models use several cores poorly: on 2 cores, --jobs 2 trained Gray-Scott configurations about 1.36× faster than one at a time.",
                valueName: "N"))
        var jobs = 1

        func validate() throws {
            guard (index == nil) != !all else { throw ValidationError("give exactly one of --index I and --all") }
            if let index, index < 0 { throw ValidationError("--index must be 0 or more (got \(index))") }
            guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be 1 … 256 (got \(jobs))") }
            if jobs > 1, !all { throw ValidationError("--jobs goes with --all (one --index is one configuration)") }
        }

        func run() throws {
            try reportingErrors {
                let plan = try SweepPlan.read(from: folder)
                if let index, index >= plan.count {
                    throw ValidationError("--index \(index) is outside this sweep's 0 … \(plan.count - 1)")
                }
                if jobs > 1 {
                    try trainInParallel(plan)
                    return
                }
                for index in index.map({ [$0] }) ?? Array(0..<plan.count) {
                    try train(plan, index: index)
                }
            }
        }

        private func train(_ plan: SweepPlan, index: Int) throws {
            let runFolder = SweepPlan.runFolder(in: folder, index: index)
            let files = RunFolder(runFolder)
            let arguments: [String]
            if FileManager.default.fileExists(atPath: files.report) {
                say("configuration \(index) (\(plan.describe(index))) is finished (\(runFolder)); nothing to do")
                return
            } else if FileManager.default.fileExists(atPath: files.checkpoint) {
                say("configuration \(index) (\(plan.describe(index))): resuming \(runFolder)")
                arguments = plan.resumeArguments(of: index, runFolder: runFolder)
            } else {
                // Killed before its first checkpoint (or never started): start afresh.
                if FileManager.default.fileExists(atPath: runFolder) {
                    try? FileManager.default.removeItem(atPath: runFolder)
                }
                say("configuration \(index) of \(plan.count) (\(plan.describe(index))) into \(runFolder)")
                arguments = plan.arguments(of: index) + ["--out", runFolder]
            }
            var command: TrainCommand
            do {
                command = try TrainCommand.parse(arguments)
            } catch {
                throw ValidationError(
                    "configuration \(index) is not a valid 'nca train': "
                        + TrainCommand.message(for: error).split(separator: "\n").joined(separator: " "))
            }
            try command.run()
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Collect every configuration's losses into DIR/sweep.csv, sweep.html, plots and tables.")

        @Argument(help: "The sweep folder.")
        var folder: String

        @Option(
            name: .customLong("rows-from"),
            help: ArgumentHelp(
                "A sweep.csv of the same grid run elsewhere (another machine, an earlier copy of the folder): each configuration not started here takes its row from it, folder marked with the file's name. Repeatable.",
                valueName: "csv"))
        var rowsFrom: [String] = []

        func run() throws {
            try reportingErrors {
                let plan = try SweepPlan.read(from: folder)
                var rows: [SweepReport.Row] = []
                for index in 0..<plan.count {
                    rows.append(try row(plan, index: index))
                }
                try fill(&rows, options: plan.axes.map(\.option))
                let report = SweepReport(
                    options: plan.axes.map(\.option), rows: rows, common: plan.trainArguments.joined(separator: " "))
                try AtomicFile.write(Data(report.csv.utf8), to: folder + "/sweep.csv")
                try AtomicFile.write(Data(report.html.utf8), to: folder + "/sweep.html")
                var plots: [String] = []
                if !report.tables.isEmpty {
                    plots.append("sweep-tables.md")
                    try AtomicFile.write(Data(report.tablesMarkdown.utf8), to: folder + "/sweep-tables.md")
                }
                for (a, option) in report.options.enumerated() {
                    guard let plot = report.ratioPlot(option: a) else { continue }
                    plots.append("sweep-\(option).svg")
                    try AtomicFile.write(Data(plot.svg.utf8), to: folder + "/" + plots.last!)
                }
                for row in rows {
                    var line = String(format: "  %3d  ", row.index) + plan.describe(row.index) + ": " + row.status
                    if let loss = row.finalLoss { line += String(format: ", final loss %.4g", loss) }
                    if let rollout = row.rolloutRatio, let hold = row.holdRatio {
                        line += String(format: ", rollout %.3g × do-nothing, worst past T %.3g × at T", rollout, hold)
                    }
                    if let loss = row.testLoss, let ratio = row.testRatio {
                        line += String(format: ", test loss %.4g (%.3g × do-nothing)", loss, ratio)
                    }
                    if !row.folder.hasPrefix("runs/") { line += " (\(row.folder))" }
                    say(line)
                }
                let finished = rows.filter { $0.status == "finished" }.count
                let written = ["sweep.csv", "sweep.html"] + plots
                say("\(finished) of \(rows.count) finished; wrote " + written.map { folder + "/" + $0 }.joined(separator: ", "))
            }
        }

        /// Configurations not started here take the row with the same swept values from the
        /// first `--rows-from` file that has one.
        private func fill(_ rows: inout [SweepReport.Row], options: [String]) throws {
            for path in rowsFrom {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw FileError(path: path, problem: "cannot be read; give the path of a sweep.csv", category: .usage)
                }
                let other = try SweepReport.rows(csv: String(decoding: data, as: UTF8.self), options: options, path: path)
                let name = (path as NSString).lastPathComponent
                for i in rows.indices where rows[i].status == "not started" {
                    guard var row = other.first(where: { $0.values == rows[i].values && $0.status != "not started" }) else {
                        continue
                    }
                    row.index = rows[i].index
                    row.folder = name + ": " + row.folder
                    rows[i] = row
                }
            }
        }

        private func row(_ plan: SweepPlan, index: Int) throws -> SweepReport.Row {
            let runFolder = SweepPlan.runFolder(in: folder, index: index)
            let files = RunFolder(runFolder)
            var row = SweepReport.Row(
                index: index, values: plan.values(of: index), status: "not started",
                folder: "runs/" + String(format: "%03d", index))
            guard FileManager.default.fileExists(atPath: files.checkpoint) else { return row }
            // Read only: a configuration may be training right now, and opening it as a resume
            // would drop the metrics lines written since its last checkpoint.
            let run = try TrainingRun(resuming: runFolder, writes: false)
            let metrics = try run.metricsRows()
            let epochs = run.configuration.training.epochs
            let finished = FileManager.default.fileExists(atPath: files.report)
            row.status = finished ? "finished" : "stopped at epoch \(run.trainer.state.epoch) of \(epochs)"
            row.epochs = metrics.last?.epoch
            row.finalLoss = metrics.last?.loss
            row.bestLoss = metrics.map(\.loss).filter(\.isFinite).min()
            row.bestValidationLoss = metrics.compactMap(\.validationLoss).filter(\.isFinite).min()
            guard finished else { return row }
            // summary.json (nca train writes it with report.html); runs of older versions are
            // measured here, once: their summary is kept for the next report.
            let summary: RunSummary
            if let kept = try? RunSummary.read(from: files.summary) {
                summary = kept
            } else {
                let best: NCAModel<Float> = (try? ModelFile.read(run.bestPath)) ?? run.trainer.state.model
                summary = RunSummary.measure(best, run: run).summary
                try? summary.write(to: files.summary)
            }
            row.rolloutRatio = summary.rolloutRatio
            row.holdRatio = summary.holdRatio
            row.testLoss = summary.testLoss
            row.testRatio = summary.testRatio
            row.testEuclideanRatio = summary.testEuclideanRatio
            return row
        }
    }
}
