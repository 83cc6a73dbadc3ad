import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file could not be read or written.
public struct FileError: Error, Equatable, NCAUserError {
    public var path: String
    public var reason: String
    public var category: ErrorCategory

    public init(path: String, reason: String, category: ErrorCategory = .failure) {
        self.path = path
        self.reason = reason
        self.category = category
    }

    public var description: String { "\(path): \(reason)" }
}

/// Whole-file reads and crash-safe writes.
public enum AtomicFile {
    /// Writes `data` so that a reader sees either the old file or the complete new one: the bytes
    /// go to a temporary file in the same folder, which is flushed (`fsync`) and renamed over
    /// `path`; the folder is then synced so the rename survives a power cut. On failure the
    /// temporary file is removed and any previous file at `path` is untouched.
    public static func write(_ data: Data, to path: String) throws(FileError) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FileError(path: path, reason: "folder \(folder) does not exist; create it first", category: .usage)
        }
        var template = Array((folder + "/." + url.lastPathComponent + ".tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileError(path: path, reason: "cannot create a file in \(folder): \(errnoText())\(hint(errno))")
        }
        let tempPath = String(cString: template.map { UInt8(bitPattern: $0) })
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "write failed: \(errnoText())\(hint(errno))"
                    return
                }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync failed: \(errnoText())\(hint(errno))" }
        if close(fd) != 0 && failure == nil { failure = "close failed: \(errnoText())" }
        if failure == nil && fchmodPath(tempPath) != 0 { failure = "chmod failed: \(errnoText())" }
        if failure == nil && rename(tempPath, path) != 0 { failure = "rename failed: \(errnoText())" }
        if let failure {
            unlink(tempPath)
            throw FileError(path: path, reason: failure + " (the previous file, if any, is unchanged)")
        }
        let dirFD = open(folder, O_RDONLY)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }

    /// Reads a whole file.
    public static func read(_ path: String) throws(FileError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileError(path: path, reason: "no such file; check the path", category: .inputData)
        }
        guard !isDirectory.boolValue else {
            throw FileError(path: path, reason: "is a folder, not a file", category: .inputData)
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw FileError(
                path: path, reason: "cannot be read (\(error.localizedDescription)); check its permissions", category: .inputData)
        }
    }

    /// Creates `path` (and parents) as a folder if it does not exist.
    public static func makeFolder(_ path: String) throws(FileError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw FileError(path: path, reason: "exists and is not a folder; choose another path", category: .usage)
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FileError(path: path, reason: "cannot create folder (\(error.localizedDescription))")
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// What to do about a failed write, for the errors a user can fix.
    static func hint(_ code: Int32) -> String {
        switch code {
        case ENOSPC, EDQUOT: return " (the disk is full: free space or write elsewhere)"
        case EFBIG: return " (over the file-size limit: raise it with ulimit -f or write elsewhere)"
        case EACCES, EPERM, EROFS: return " (the folder is not writable: choose another or fix its permissions)"
        default: return ""
        }
    }

    /// mkstemp creates files 0600; give the result the usual 0644 (less the umask).
    private static func fchmodPath(_ path: String) -> Int32 {
        let mask = umask(0)
        umask(mask)
        return chmod(path, 0o666 & ~mask)
    }
}
