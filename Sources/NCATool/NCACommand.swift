import ArgumentParser
import Foundation
import NCA

@main
struct NCACommand: ParsableCommand {
    /// The version `nca --version` prints: the library's, set in one place (`Toolkit.version`).
    static let version = Toolkit.version

    static func main() {
        // A write over the file-size limit (ulimit -f) should fail with EFBIG and a clear
        // message, not kill the process.
        signal(SIGXFSZ, SIG_IGN)
        if let value = ProcessInfo.processInfo.environment["NCA_KERNELS"],
            !value.isEmpty, KernelLevel(choice: value) == nil
        {
            let choices = KernelLevel.allCases.map(\.choice).joined(separator: ", ")
            FileHandle.standardError.write(
                Data(
                    "Error: NCA_KERNELS=\(value) is not a kernel choice; use one of \(choices) (or unset it for the best this CPU has).\n"
                        .utf8))
            Foundation.exit(64)
        }
        // Under mpirun, the processes on one node share its cores: each engine gets its share
        // of worker threads unless NCA_THREADS says otherwise.
        if Communicator.isLaunchedByMPI, ProcessInfo.processInfo.environment["NCA_THREADS"] == nil {
            let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, Communicator.processesOnThisNode))
            setenv("NCA_THREADS", String(threads), 1)
        }
        BLASKernels.selectBeforeRunning()
        // As ParsableCommand.main, except that under mpirun a usage error (or --help) is printed
        // by rank 0 only: every rank parses the same command line.
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            if let rank = Communicator.launchRank, rank != 0 { Foundation.exit(exitCode(for: error).rawValue) }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "nca",
        abstract: "Learn, run and inspect Neural Cellular Automata (Richardson et al.).",
        discussion: """
            Arrays are .npy files (float32/float64, C order). A state is R × S × S × C \
            (batch entries, lattice rows, lattice columns, channels); an S × S × C file means R = 1. \
            Models are .safetensors files with tensors W2 [K·C, H], W1 [H, C], v [C] and the \
            configuration in the header metadata.

            Environment: NCA_THREADS sets the worker threads of a step (default: every core); \
            NCA_KERNELS=blas runs the dense layers on OpenBLAS instead of nca's AVX-512/AVX2 kernels \
            (avx2 caps them at AVX2, avx512 or unset: the best this CPU has; libxsmm runs the \
            products on libxsmm's JIT kernels, the measured alternative, slower here); \
            OPENBLAS_CORETYPE overrides the BLAS kernels (nca picks SkylakeX kernels itself when \
            OpenBLAS does not recognise an AVX-512 CPU, Haswell kernels for AVX2).

            Exit status: 0 success, 64 bad options, 65 bad input data, 1 other failure, 130 training \
            interrupted (a checkpoint was written).
            """,
        version: version,
        subcommands: [
            InitCommand.self, StepCommand.self, GradCommand.self, DataCommand.self, TrainCommand.self, RolloutCommand.self,
            EvaluateCommand.self, AnalyseCommand.self, PerturbCommand.self, BenchCommand.self, SweepCommand.self,
        ]
    )
}
