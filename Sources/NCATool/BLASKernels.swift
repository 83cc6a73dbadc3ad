import Foundation
import NCA

/// Makes sure OpenBLAS runs kernels that suit the CPU.
enum BLASKernels {
    /// If OpenBLAS fell back to generic kernels on a CPU that supports better ones, re-executes
    /// this process with `OPENBLAS_CORETYPE` set (OpenBLAS reads it only when it loads). Does
    /// nothing when the variable is already set, so a user's choice always wins and the
    /// re-executed process does not loop.
    static func selectBeforeRunning() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["NCA_KEEP_BLAS_KERNELS"] == nil,
            let core = LinearAlgebra.recommendedCoreType(cpuFlags: cpuFlags())
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv returned: carry on with the kernels we have.
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// The CPU feature flags of the first processor in /proc/cpuinfo (empty if unreadable).
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
