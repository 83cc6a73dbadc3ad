// The toolkit targets Linux (Glibc); every direct POSIX call of the library is in this file.
#if canImport(Glibc)
    import Glibc
#else
    #error("nca targets Linux: the POSIX calls in POSIX.swift use Glibc")
#endif

/// Thin wrappers over the POSIX file calls the library needs for crash-safe writes.
enum POSIX {
    /// Writes all of `bytes` to `fd`, retrying after interrupts; the errno of a failure, or nil.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return nil
    }

    /// A unique temporary file from a mkstemp template (…XXXXXX): its descriptor and path, or nil.
    static func makeTemporary(_ template: String) -> (fd: Int32, path: String)? {
        var bytes = Array(template.utf8CString)
        let fd = bytes.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        return (fd, String(cString: bytes.map { UInt8(bitPattern: $0) }))
    }

    static func sync(_ fd: Int32) -> Bool { fsync(fd) == 0 }
    static func close(_ fd: Int32) -> Bool { Glibc.close(fd) == 0 }
    static func rename(_ from: String, _ to: String) -> Bool { Glibc.rename(from, to) == 0 }
    static func remove(_ path: String) { unlink(path) }

    /// Opens `path` for appending (created 0644 if missing); −1 on failure.
    static func openForAppending(_ path: String) -> Int32 { open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644) }

    /// Syncs a folder, so that a rename inside it survives a power cut (best effort).
    static func syncFolder(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            _ = fsync(fd)
            _ = Glibc.close(fd)
        }
    }

    /// Gives `path` the usual permissions, 0666 less the umask (mkstemp creates files 0600).
    static func setDefaultPermissions(_ path: String) -> Bool {
        let mask = umask(0)
        umask(mask)
        return chmod(path, 0o666 & ~mask) == 0
    }

    /// The current errno.
    static var lastError: Int32 { errno }

    /// The text of an errno value.
    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// What to do about a failed write, for the errors a user can fix.
    static func hint(_ code: Int32) -> String {
        switch code {
        case ENOSPC, EDQUOT: return " (the disk is full: free space or write elsewhere)"
        case EFBIG: return " (over the file-size limit: raise it with ulimit -f or write elsewhere)"
        case EACCES, EPERM, EROFS: return " (the folder is not writable: choose another or fix its permissions)"
        default: return ""
        }
    }
}

/// An append-only text file whose every line is on disk (fsync) before `append` returns.
final class AppendOnlyFile {
    private let descriptor: Int32
    let path: String

    init(path: String) throws(FileError) {
        self.path = path
        descriptor = POSIX.openForAppending(path)
        guard descriptor >= 0 else {
            throw FileError(path: path, problem: "cannot open for appending: \(POSIX.describe(POSIX.lastError))")
        }
    }

    func append(_ line: String) throws(FileError) {
        let bytes = Array((line + "\n").utf8)
        if let code = bytes.withUnsafeBytes({ POSIX.writeAll(descriptor, $0) }) {
            throw FileError(path: path, problem: "cannot append a line: \(POSIX.describe(code))\(POSIX.hint(code))")
        }
        guard POSIX.sync(descriptor) else {
            let code = POSIX.lastError
            throw FileError(path: path, problem: "cannot sync an appended line: \(POSIX.describe(code))\(POSIX.hint(code))")
        }
    }

    func close() { _ = POSIX.close(descriptor) }
}
