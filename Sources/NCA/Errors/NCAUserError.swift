/// What kind of mistake a user-facing error reports; the CLI turns it into an exit code
/// (`usage` 64, `inputData` 65, `failure` 1, as in `sysexits.h`).
public enum ErrorCategory: Sendable {
    /// Impossible option values or combinations.
    case usage
    /// A file or data set that cannot be used as it is.
    case inputData
    /// Anything else (the disk, the operating system, a numerical breakdown).
    case failure
}

/// An error meant to be read by a person: `description` is one line that says what is wrong
/// and how to fix it.
public protocol NCAUserError: Error, CustomStringConvertible {
    /// Usage, bad input data or another failure: the exit status a front end gives the error.
    var category: ErrorCategory { get }
}

extension LinearAlgebraError: NCAUserError {
    public var category: ErrorCategory { .failure }
}
