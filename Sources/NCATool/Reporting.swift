import ArgumentParser
import Foundation
import NCA

/// Runs a command body; a user-facing error becomes one line on standard error and the exit
/// code of its category (64 usage, 65 input data, 1 otherwise), never a trap or stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as NCAUserError {
        printError(userMessage(error))
        switch error.category {
        case .usage: throw ExitCode(64)
        case .inputData: throw ExitCode(65)
        case .failure: throw ExitCode(1)
        }
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("\(error)")
        throw ExitCode(1)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("nca: error: \(message)\n".utf8))
}

/// A line of progress or results on standard output (unbuffered, so it interleaves correctly
/// with progress lines and survives a kill).
func say(_ message: String) {
    writeOut(message + "\n")
}

func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
