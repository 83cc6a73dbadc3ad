import Foundation
import Testing

@testable import NCA
@testable import NCATool

@Suite("Sweep plans")
struct SweepPlanTests {
    @Test("a grid expands to every combination once, the last option fastest")
    func gridExpands() throws {
        let axes = try SweepPlan.parseGrid(" time-sampling=1,2,4 ; --seed=0,1;lr = 0.001 ")
        #expect(axes.map(\.option) == ["time-sampling", "seed", "lr"])
        let plan = SweepPlan(axes: axes, trainArguments: ["--preset", "gray-scott"], toolkitVersion: "test")
        #expect(plan.count == 6)
        let all = (0..<plan.count).map(plan.values(of:))
        #expect(all[0] == ["1", "0", "0.001"] && all[1] == ["1", "1", "0.001"] && all[2] == ["2", "0", "0.001"])
        #expect(all[5] == ["4", "1", "0.001"])
        #expect(Set(all.map { $0.joined(separator: "|") }).count == 6)
        #expect(
            plan.arguments(of: 3) == ["--preset", "gray-scott", "--time-sampling", "2", "--seed", "1", "--lr", "0.001"])
    }

    @Test("a resumed configuration gets the session options (--stop-after) again, nothing else")
    func resumeKeepsSessionOptions() throws {
        let axes = try SweepPlan.parseGrid("seed=0,1")
        let plan = SweepPlan(
            axes: axes, trainArguments: ["--preset", "gray-scott", "--stop-after", "30", "--epochs", "90"], toolkitVersion: "t")
        #expect(plan.resumeArguments(of: 1, runFolder: "R") == ["--resume", "R", "--stop-after", "30"])
        let equals = SweepPlan(axes: axes, trainArguments: ["--stop-after=5", "--preset", "morph"], toolkitVersion: "t")
        #expect(equals.resumeArguments(of: 0, runFolder: "R") == ["--resume", "R", "--stop-after=5"])
        let none = SweepPlan(axes: axes, trainArguments: ["--preset", "morph"], toolkitVersion: "t")
        #expect(none.resumeArguments(of: 0, runFolder: "R") == ["--resume", "R"])
        _ = try TrainCommand.parse(plan.resumeArguments(of: 1, runFolder: "R"))
    }

    @Test("values holding commas are separated by |")
    func valuesWithCommas() throws {
        let axes = try SweepPlan.parseGrid("kernels=identity,laplacian|identity,grad-x,grad-y,laplacian;seed=0,1")
        #expect(axes[0].values == ["identity,laplacian", "identity,grad-x,grad-y,laplacian"] && axes[1].values == ["0", "1"])
    }

    @Test(
        "bad grids are refused with a reason",
        arguments: ["", "seed", "seed=", "seed=1,,2", "seed=1,1", "out=a,b", "seed=1;seed=2", "a b=1"])
    func badGrids(grid: String) {
        #expect(throws: (any Error).self) { try SweepPlan.parseGrid(grid) }
    }

    @Test("the ratio plot: a line per value of the first other option that is not seed, geometric means over seeds")
    func ratioPlotGroupsAndAverages() throws {
        // t × loss × seed, test ratios (Euclidean) r = t/8 · (1 for euclidean, 2 for spectral) · (1, 4 for seeds 0, 1).
        var rows: [SweepReport.Row] = []
        for t in [1, 8, 64] {
            for (l, loss) in ["euclidean", "spectral"].enumerated() {
                for seed in 0..<2 {
                    let ratio = Double(t) / 8 * Double(l + 1) * (seed == 0 ? 1 : 4)
                    rows.append(
                        SweepReport.Row(
                            index: rows.count, values: ["\(t)", loss, "\(seed)"], status: "finished", testRatio: 7,
                            testEuclideanRatio: t == 64 && loss == "spectral" && seed == 1
                                ? .nan : t == 8 && loss == "euclidean" ? nil : ratio, rolloutRatio: 9,
                            folder: "runs/\(rows.count)"))
                }
            }
        }
        let report = SweepReport(options: ["time-sampling", "loss", "seed"], rows: rows, common: "")
        let plot = try #require(report.ratioPlot(option: 0))
        #expect(plot.logX && plot.xTicks == [1, 8, 64] && plot.yLabel.contains("Euclidean"))
        #expect(
            plot.series.map(\.name) == [
                "--loss euclidean", "", "--loss spectral", "", "do-nothing model", "blew up (> 100 ×)",
            ])
        // The NaN run blew up: a black dot at 100, out of the lines.
        #expect(plot.series[5].points.map(\.x) == [64] && plot.series[5].points.map(\.y) == [100])
        #expect(plot.caption.contains("1 configuration(s) more than 100 ×"))
        // The geometric mean of seeds 0 and 1 is 2 × seed 0's; the NaN run is left out (seed 0 alone).
        let spectral = plot.series[2].points
        #expect(spectral.map(\.x) == [1, 8, 64])
        #expect(abs(spectral[0].y - 2.0 / 8 * 2) < 1e-12 && abs(spectral[1].y - 2 * 2) < 1e-12)
        #expect(abs(spectral[2].y - 8 * 2) < 1e-12)
        #expect(plot.series[3].points.count == 5 && plot.series[4].points.map(\.y) == [1, 1])
        // Euclidean has nothing at t = 8: its line breaks there (NaN), leaving two lone points.
        let euclidean = plot.series[0].points
        #expect(euclidean.map(\.x) == [1, 8, 64] && euclidean[1].y.isNaN && plot.series[1].points.count == 4)
        let svg = plot.svg
        #expect(svg.hasPrefix("<svg") && svg.contains("--loss spectral") && svg.contains(">64</text>"))
        // Polylines: spectral and the do-nothing line; circles: 2 lone Euclidean points + 4 + 5 dots + 1 blown up.
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.components(separatedBy: "<circle").count - 1 == 2 + 4 + 5 + 1)
        // Against the loss (not numeric): positions 0, 1 named in the caption; a line per t.
        let byLoss = try #require(report.ratioPlot(option: 1))
        #expect(!byLoss.logX && byLoss.xTicks == [0, 1] && byLoss.caption.contains("0 = euclidean, 1 = spectral"))
        #expect(
            byLoss.series.filter { !$0.name.isEmpty }.map(\.name) == [
                "--time-sampling 1", "--time-sampling 8", "--time-sampling 64", "do-nothing model",
                "blew up (> 100 ×)",
            ])
        // Without test data the rollout ratio is plotted; with nothing measured there is no plot.
        let noTest = rows.map { row -> SweepReport.Row in
            var r = row
            r.testEuclideanRatio = nil
            return r
        }
        let rollout = try #require(
            SweepReport(options: ["time-sampling", "loss", "seed"], rows: noTest, common: "").ratioPlot(option: 2))
        #expect(rollout.yLabel.hasPrefix("rollout") && rollout.series[0].points.allSatisfy { abs($0.y - 9) < 1e-12 })
        // The CSV reads back to the same rows (NaN, nil and quoted values included).
        let quoted = SweepReport(
            options: ["time-sampling", "loss", "seed"],
            rows: rows.map {
                var r = $0
                r.values[1] = "\"a\",b"
                return r
            }, common: "")
        let back = try SweepReport.rows(csv: quoted.csv, options: quoted.options, path: "x.csv")
        #expect(back.map(\.values) == quoted.rows.map(\.values))
        #expect(SweepReport(options: quoted.options, rows: back, common: "").csv == quoted.csv)
        #expect(throws: FileError.self) { try SweepReport.rows(csv: report.csv, options: ["hidden"], path: "x.csv") }
        #expect(throws: FileError.self) { try SweepReport.rows(csv: report.csv + "1,2\n", options: ["loss"], path: "x.csv") }
        // Numbers that are not numbers, and epochs that are not whole, are errors, not traps.
        for bad in ["epochs,inf", "epochs,1e30", "epochs,2.5", "final_loss,x"] {
            let (name, value) = (bad.split(separator: ",")[0], bad.split(separator: ",")[1])
            let text = "index,loss,status,folder,\(name)\n0,a,finished,runs/000,\(value)\n"
            #expect(throws: FileError.self, "\(bad)") { try SweepReport.rows(csv: text, options: ["loss"], path: "x.csv") }
        }
        // A finite ratio far above 1 (a model that blew up within the floats) is off the scale too.
        let huge = try #require(
            SweepReport(
                options: ["time-sampling", "seed"],
                rows: [("1", 0.5), ("1", 9.2e11), ("2", 0.25)].enumerated().map { i, r in
                    SweepReport.Row(
                        index: i, values: [r.0, "\(i)"], status: "finished", testEuclideanRatio: r.1, folder: "runs/\(i)")
                }, common: ""
            ).ratioPlot(option: 0))
        #expect(huge.series[0].points.map(\.y) == [0.5, 0.25] && huge.series.last!.points.map(\.y) == [100])
        let none = rows.map { SweepReport.Row(index: $0.index, values: $0.values, status: "not started", folder: $0.folder) }
        #expect(SweepReport(options: ["time-sampling", "loss", "seed"], rows: none, common: "").ratioPlot(option: 0) == nil)
    }
}

extension SweepPlanTests {
    @Test("sweep tables: first non-seed option down, the next across, a cell's runs seed by seed")
    func tablesLayOutTwoOptions() {
        var rows: [SweepReport.Row] = []
        for t in [1, 8] {
            for loss in ["euclidean", "spectral"] {
                for seed in 0..<2 {
                    // Seed 1 of (8, spectral) has no measurement yet.
                    let missing = t == 8 && loss == "spectral" && seed == 1
                    rows.append(
                        SweepReport.Row(
                            index: rows.count, values: ["\(seed)", "\(t)", loss], status: missing ? "not started" : "finished",
                            testRatio: missing ? nil : Double(rows.count),
                            testEuclideanRatio: missing ? nil : Double(rows.count) / 10, rolloutRatio: 2,
                            holdRatio: missing ? nil : 1.5, folder: "runs/\(rows.count)"))
                }
            }
        }
        // seed is swept first here: the rows are the first option that is not seed.
        let report = SweepReport(
            options: ["seed", "time-sampling", "loss"], rows: rows.sorted { $0.values[0] < $1.values[0] }, common: "")
        let tables = report.tables
        #expect(tables.count == 4 && tables[0].title.contains("Euclidean") && tables[3].title == "final training loss")
        #expect(tables[0].rowOption == "time-sampling" && tables[0].columnOption == "loss")
        #expect(tables[0].rowValues == ["1", "8"] && tables[0].columnValues == ["euclidean", "spectral"])
        let lines = tables[0].markdown.split(separator: "\n")
        #expect(lines[1] == "| time-sampling \\ loss | euclidean | spectral |")
        // Sorted by seed: seed 0's run comes first in each cell; the missing seed-1 run is "–".
        #expect(lines[3] == "| 1 | 0 / 0.1 | 0.2 / 0.3 |", "\(lines)")
        #expect(lines[4] == "| 8 | 0.4 / 0.5 | 0.6 / – |", "\(lines)")
        #expect(tables[2].markdown.contains("| 8 | 1.5 / 1.5 | 1.5 / – |"))
        #expect(report.tablesMarkdown.contains("seed by seed") && tables[0].html.contains("<td>0.6 / –</td>"))
        // Without test data: the rollout ratio; with only --seed swept: no tables.
        let noTest = SweepReport(
            options: ["seed", "time-sampling", "loss"],
            rows: rows.map { row in
                var r = row
                r.testEuclideanRatio = nil
                return r
            }, common: "")
        #expect(noTest.tables.count == 3 && noTest.tables[0].title.hasPrefix("rollout"))
        #expect(SweepReport(options: ["seed"], rows: [], common: "").tables.isEmpty)
        // Every run's own loss Euclidean (the same ratios): no own-loss table.
        let euclidean = SweepReport(
            options: ["seed", "time-sampling", "loss"],
            rows: rows.map { row in
                var r = row
                r.testRatio = r.testEuclideanRatio
                return r
            }, common: "")
        #expect(euclidean.tables.map(\.title) == [tables[0].title, tables[2].title, tables[3].title])
    }
}

extension BinaryTests {
    @Test("nca sweep: plan 8 configurations, run them, skip a finished one, report them all")
    func sweepEndToEnd() throws {
        let dir = temporaryFolder()
        try tinyGrayScott(dir + "/gs.npy")
        var r: (status: Int32, output: String, error: String)
        let sweep = dir + "/sweep"
        r = try nca([
            "sweep", "plan", "--grid", "hidden=4,6;seed=0,1;lr=0.001,0.003", "--out", sweep, "--", "--data", dir + "/gs.npy",
            "--test-data", dir + "/gs.npy", "--channels", "4", "--time-sampling", "4", "--epochs", "3", "--minibatch-size", "2",
        ])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("sweep of 8 configurations") && r.output.contains("  7  --hidden 6 --seed 1 --lr 0.003"))
        // A second plan into the same folder, and an invalid configuration, are refused before anything is written.
        r = try nca(["sweep", "plan", "--grid", "seed=0,1", "--out", sweep, "--", "--data", dir + "/gs.npy"])
        #expect(r.status == 64 && r.error.contains("already holds a sweep"), "\(r.error)")
        r = try nca(["sweep", "plan", "--grid", "hidden=4,-1", "--out", dir + "/bad", "--", "--data", dir + "/gs.npy"])
        #expect(r.status == 64 && r.error.contains("configuration 1"), "\(r.error)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
        r = try nca(["sweep", "run", sweep, "--index", "8"])
        #expect(r.status == 64 && r.error.contains("0 … 7"), "\(r.error)")

        r = try nca(["sweep", "run", sweep, "--index", "5"])
        #expect(r.status == 0, "\(r.error)")
        let five = sweep + "/runs/005"
        let config = try String(contentsOfFile: five + "/config.json", encoding: .utf8)
        #expect(config.contains("\"hiddenSize\" : 6") || config.contains("\"hiddenSize\":6"), "\(config.prefix(400))")
        let metrics = try String(contentsOfFile: five + "/metrics.csv", encoding: .utf8)
        r = try nca(["sweep", "run", sweep, "--index", "5"])
        #expect(r.status == 0 && r.output.contains("nothing to do"), "\(r.output)")
        #expect(try String(contentsOfFile: five + "/metrics.csv", encoding: .utf8) == metrics)

        r = try nca(["sweep", "report", sweep])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("1 of 8 finished"))
        r = try nca(["sweep", "run", sweep, "--all"])
        #expect(r.status == 0, "\(r.error)")
        r = try nca(["sweep", "report", sweep])
        #expect(r.status == 0 && r.output.contains("8 of 8 finished"), "\(r.output)")
        let csv = try String(contentsOfFile: sweep + "/sweep.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 9)
        #expect(
            csv[0]
                == "index,hidden,seed,lr,status,epochs,final_loss,best_loss,best_validation_loss,test_loss,test_vs_do_nothing,test_euclidean_vs_do_nothing,rollout_vs_do_nothing,hold_past_horizon,folder"
        )
        for (i, line) in csv.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields[0] == "\(i)" && fields[4] == "finished" && fields[5] == "3", "\(line)")
            #expect(Double(fields[6]) != nil && Double(fields[9]) != nil, "final and test loss of \(i): \(line)")
            // Trained with the Euclidean loss: the Euclidean test ratio is the test ratio.
            #expect(Double(fields[10]) != nil && fields[11] == fields[10], "test ratios of \(i): \(line)")
            #expect(Double(fields[12]) != nil && Double(fields[13]) != nil, "rollout and hold of \(i): \(line)")
        }
        // The numbers come from each run's summary.json; without one (a run of an older version)
        // the report measures the model itself, gets the same numbers and keeps them.
        let summaryPath = sweep + "/runs/003/summary.json"
        let kept = try RunSummary.read(from: summaryPath)
        try FileManager.default.removeItem(atPath: summaryPath)
        r = try nca(["sweep", "report", sweep])
        #expect(r.status == 0, "\(r.error)")
        #expect(try String(contentsOfFile: sweep + "/sweep.csv", encoding: .utf8).split(separator: "\n") == csv)
        #expect(try RunSummary.read(from: summaryPath) == kept)
        let html = try String(contentsOfFile: sweep + "/sweep.html", encoding: .utf8)
        for option in ["--hidden", "--seed", "--lr"] { #expect(html.contains("<h2>\(option)</h2>")) }
        // Per option a plot of the losses and one of the test ratio (a line per --hidden, or per --lr for --hidden).
        #expect(html.components(separatedBy: "<svg").count == 7)
        for option in ["hidden", "seed", "lr"] {
            let svg = try String(contentsOfFile: sweep + "/sweep-\(option).svg", encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.contains("do-nothing model"), "\(option)")
            #expect(svg.contains(option == "hidden" ? "--lr 0.001" : "--hidden 4"), "\(option): \(svg.prefix(300))")
        }
        #expect(r.output.contains("sweep-seed.svg") && r.output.contains("sweep-tables.md"))
        // Tables: --hidden down, --lr across, each cell seeds 0 / 1; in the page too.
        let tables = try String(contentsOfFile: sweep + "/sweep-tables.md", encoding: .utf8)
        #expect(tables.contains("| hidden \\ lr | 0.001 | 0.003 |") && html.contains("<caption>test loss"), "\(tables)")
        #expect(
            tables.split(separator: "\n").filter { $0.hasPrefix("| 4 |") && $0.components(separatedBy: " / ").count == 3 }.count
                == 3)  // test ratio, hold, final loss (every run Euclidean: no own-loss table)

        // The same grid planned again elsewhere, one configuration run there: the rest come from
        // the first report (--rows-from), marked as such.
        try FileManager.default.copyItem(atPath: sweep + "/sweep.csv", toPath: dir + "/first.csv")
        let again = dir + "/again"
        r = try nca([
            "sweep", "plan", "--grid", "hidden=4,6;seed=0,1;lr=0.001,0.003", "--out", again, "--", "--data", dir + "/gs.npy",
            "--test-data", dir + "/gs.npy", "--channels", "4", "--time-sampling", "4", "--epochs", "3", "--minibatch-size", "2",
        ])
        #expect(r.status == 0, "\(r.error)")
        r = try nca(["sweep", "run", again, "--index", "2"])
        #expect(r.status == 0, "\(r.error)")
        r = try nca(["sweep", "report", again, "--rows-from", dir + "/first.csv"])
        #expect(
            r.status == 0 && r.output.contains("8 of 8 finished") && r.output.contains("(first.csv: runs/005)"), "\(r.output)")
        let merged = try String(contentsOfFile: again + "/sweep.csv", encoding: .utf8).split(separator: "\n")
        for (i, line) in merged.enumerated().dropFirst() {
            let expected = i == 3 ? String(csv[i]) : csv[i].replacingOccurrences(of: ",runs/", with: ",first.csv: runs/")
            #expect(String(line) == expected, "row \(i - 1)")
        }
        r = try nca(["sweep", "report", again, "--rows-from", dir + "/missing.csv"])
        #expect(r.status == 64 && r.error.contains("missing.csv") && r.error.contains("cannot be read"), "\(r.error)")
        try "index,seed,status,folder\n0,0,finished,runs/000\n".write(
            toFile: dir + "/other.csv", atomically: true, encoding: .utf8)
        r = try nca(["sweep", "report", again, "--rows-from", dir + "/other.csv"])
        #expect(r.status == 65 && r.error.contains("has no column 'hidden'"), "\(r.error)")
    }

    @Test("a killed sweep configuration resumes from its checkpoint and loses nothing")
    func sweepKilledResumes() throws {
        let dir = temporaryFolder()
        try tinyGrayScott(dir + "/gs.npy")
        var r: (status: Int32, output: String, error: String)
        let sweep = dir + "/sweep"
        r = try nca([
            "sweep", "plan", "--grid", "seed=0,1", "--out", sweep, "--", "--data", dir + "/gs.npy", "--channels", "4",
            "--time-sampling", "4", "--epochs", "600", "--checkpoint-every", "20",
        ])
        #expect(r.status == 0, "\(r.error)")
        let (process, _) = try startNCA(["sweep", "run", sweep, "--index", "1"])
        let run = sweep + "/runs/001"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let (state, _) = try? Checkpoint.read(run + "/checkpoint.safetensors"), state.epoch >= 40 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let (killedAt, _) = try Checkpoint.read(run + "/checkpoint.safetensors")
        #expect(killedAt.epoch >= 40 && killedAt.epoch < 600, "killed at epoch \(killedAt.epoch)")
        // A configuration still training has metrics lines past its last checkpoint; a report
        // reads the folder and must leave them be.
        let metricsPath = run + "/metrics.csv"
        let metrics = try String(contentsOfFile: metricsPath, encoding: .utf8) + "\(killedAt.epoch + 100),1,1,1,1,0,\n"
        try metrics.write(toFile: metricsPath, atomically: true, encoding: .utf8)
        r = try nca(["sweep", "report", sweep])
        #expect(r.output.contains("stopped at epoch"), "\(r.output)")
        #expect(try String(contentsOfFile: metricsPath, encoding: .utf8) == metrics, "the report changed metrics.csv")
        r = try nca(["sweep", "run", sweep, "--index", "1"])
        #expect(r.status == 0 && r.output.contains("resuming"), "\(r.output) \(r.error)")
        #expect(try epochsLogged(run) == Array(1...600), "metrics.csv holds every epoch once after the resume")
    }
}

extension BinaryTests {
    /// A 12 × 12 Gray-Scott trajectory (3 frames, 2 batch entries) for quick trainings.
    func tinyGrayScott(_ path: String) throws {
        let r = try nca([
            "data", "gray-scott", "--size", "12", "--steps", "8", "--time-sampling", "4", "--batches", "2", "--out", path,
        ])
        #expect(r.status == 0, "\(r.error)")
    }

    /// Starts `nca arguments` in the background; its standard output is the returned pipe.
    func startNCA(_ arguments: [String]) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        return (process, output)
    }

    /// The epoch numbers of a run folder's metrics.csv, in order.
    func epochsLogged(_ run: String) throws -> [Int] {
        try String(contentsOfFile: run + "/metrics.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .compactMap { Int($0.split(separator: ",")[0]) }
    }

    @Test("sweep run --all --jobs 2 trains as one at a time would, and a SIGTERM stops every child at a checkpoint")
    func sweepJobs() throws {
        let dir = temporaryFolder()
        try tinyGrayScott(dir + "/gs.npy")
        var r: (status: Int32, output: String, error: String)
        let common = [
            "--", "--data", dir + "/gs.npy", "--channels", "4", "--time-sampling", "4", "--epochs", "6", "--minibatch-size", "2",
        ]
        for name in ["jobs", "serial"] {
            r = try nca(["sweep", "plan", "--grid", "seed=0,1,2;lr=0.001,0.003", "--out", dir + "/" + name] + common)
            #expect(r.status == 0, "\(r.error)")
        }
        let one = ["NCA_THREADS": "1"]
        let parallel = try nca(["sweep", "run", dir + "/jobs", "--all", "--jobs", "2"], environment: one)
        #expect(parallel.status == 0, "\(parallel.error)")
        #expect(parallel.output.contains("6 of 6 configurations to train, 2 at a time"), "\(parallel.output)")
        for index in 0..<6 {
            #expect(parallel.output.contains("configuration \(index) (") && parallel.output.contains("finished in"))
            r = try nca(["sweep", "run", dir + "/serial", "--index", "\(index)"], environment: one)
            #expect(r.status == 0, "\(r.error)")
            let run = String(format: "/runs/%03d", index)
            // The same numbers (wall times aside) and the same best model, bit for bit.
            func losses(_ sweep: String) throws -> [String] {
                try String(contentsOfFile: dir + sweep + run + "/metrics.csv", encoding: .utf8).split(separator: "\n").map {
                    $0.split(separator: ",", omittingEmptySubsequences: false).enumerated().filter { $0.offset != 4 }.map {
                        String($0.element)
                    }.joined(separator: ",")
                }
            }
            #expect(try losses("/jobs") == losses("/serial"), "configuration \(index)")
            let best = try ["/jobs", "/serial"].map {
                try Data(contentsOf: URL(fileURLWithPath: dir + $0 + run + "/best.safetensors"))
            }
            #expect(best[0] == best[1], "configuration \(index)")
            #expect(FileManager.default.fileExists(atPath: dir + "/jobs/logs" + String(format: "/%03d.log", index)))
        }
        r = try nca(["sweep", "run", dir + "/jobs", "--all", "--jobs", "2"])
        #expect(r.status == 0 && r.output.contains("nothing to do"), "\(r.output)")
        r = try nca(["sweep", "run", dir + "/jobs", "--index", "0", "--jobs", "2"])
        #expect(r.status == 64 && r.error.contains("--jobs goes with --all"), "\(r.error)")

        // Long configurations: SIGTERM to the parent reaches both children, which checkpoint and
        // stop, and the third is not started; running the sweep again finishes them all with
        // every epoch once.
        let long = dir + "/long"
        r = try nca([
            "sweep", "plan", "--grid", "seed=0,1,2", "--out", long, "--", "--data", dir + "/gs.npy", "--channels", "4",
            "--time-sampling", "4", "--epochs", "600", "--checkpoint-every", "10",
        ])
        #expect(r.status == 0, "\(r.error)")
        let (process, output) = try startNCA(["sweep", "run", long, "--all", "--jobs", "2"])
        let deadline = Date().addingTimeInterval(60)
        func epoch(_ index: Int) -> Int {
            (try? Checkpoint.read(long + "/runs/00\(index)/checkpoint.safetensors"))?.0.epoch ?? 0
        }
        while Date() < deadline, epoch(0) < 20 || epoch(1) < 20 { Thread.sleep(forTimeInterval: 0.02) }
        kill(process.processIdentifier, SIGTERM)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(text)")
        #expect(text.components(separatedBy: "stopped (checkpoint written)").count == 3, "\(text)")
        #expect(epoch(0) >= 20 && epoch(0) < 600 && epoch(1) >= 20 && epoch(1) < 600, "stopped at \(epoch(0)), \(epoch(1))")
        #expect(!FileManager.default.fileExists(atPath: long + "/runs/002"), "\(text)")
        r = try nca(["sweep", "run", long, "--all", "--jobs", "2"])
        #expect(r.status == 0 && !r.output.contains("failed"), "\(r.output) \(r.error)")
        #expect(r.output.contains("3 of 3 configurations to train"), "\(r.output)")
        for index in 0..<3 {
            #expect(try epochsLogged(long + "/runs/00\(index)") == Array(1...600), "configuration \(index): every epoch once")
            let log = try String(contentsOfFile: long + "/logs/00\(index).log", encoding: .utf8)
            if index < 2 {
                #expect(log.contains("stopped at epoch") && log.contains("resuming"), "both sessions logged: \(log)")
            }
        }
    }
}

@Suite("Data-parallel shares")
struct ShareTests {
    @Test("a mini-batch splits into contiguous shares covering every entry once, sizes within one")
    func sharesCoverTheBatch() {
        for size in 1...7 {
            for count in 0...20 {
                let shares = Communicator.shares(of: count, among: size)
                #expect(shares.count == size)
                #expect(shares.first?.lowerBound == 0 && shares.last?.upperBound == count)
                for (a, b) in zip(shares, shares.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
                let sizes = shares.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1 && sizes == sizes.sorted(by: >))
            }
        }
        #expect(Communicator.shares(of: 5, among: 3) == [0..<2, 2..<4, 4..<5])
    }
}

extension BinaryTests {
    @Test("--stop-after ends a session with a checkpoint and status 0; --resume continues it to the same end")
    func stopAfterAndResume() throws {
        let dir = temporaryFolder()
        try tinyGrayScott(dir + "/gs.npy")
        var r: (status: Int32, output: String, error: String)
        let train = [
            "train", "--data", dir + "/gs.npy", "--channels", "4", "--time-sampling", "4", "--epochs", "7", "--seed", "5",
        ]
        r = try nca(train + ["--out", dir + "/whole"])
        #expect(r.status == 0, "\(r.error)")
        r = try nca(train + ["--stop-after", "3", "--out", dir + "/parts"])
        #expect(r.status == 0 && r.output.contains("stopped at epoch 3"), "\(r.output) \(r.error)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/parts/report.html"))
        r = try nca(["train", "--resume", dir + "/parts", "--stop-after", "3"])
        #expect(r.status == 0 && r.output.contains("stopped at epoch 6"), "\(r.output)")
        r = try nca(["train", "--resume", dir + "/parts", "--stop-after", "3"])
        #expect(r.status == 0 && r.output.contains("report.html"), "\(r.output)")
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/whole/model.safetensors"))
        let parts = try Data(contentsOf: URL(fileURLWithPath: dir + "/parts/model.safetensors"))
        #expect(whole == parts, "three sessions end bit for bit where one does")
        r = try nca(train + ["--stop-after", "0", "--out", dir + "/bad"])
        #expect(r.status == 64 && r.error.contains("--stop-after"), "\(r.error)")
        // In a sweep, --stop-after among the common options holds for every session.
        r = try nca(
            ["sweep", "plan", "--grid", "seed=5", "--out", dir + "/sweep", "--"] + train.dropFirst().dropLast(2) + [
                "--stop-after", "3",
            ])
        #expect(r.status == 0, "\(r.error)")
        for expected in ["stopped at epoch 3", "stopped at epoch 6", "report.html"] {
            r = try nca(["sweep", "run", dir + "/sweep", "--index", "0"])
            #expect(r.status == 0 && r.output.contains(expected), "\(expected): \(r.output) \(r.error)")
        }
        let swept = try Data(contentsOf: URL(fileURLWithPath: dir + "/sweep/runs/000/model.safetensors"))
        #expect(swept == whole)
    }
}
