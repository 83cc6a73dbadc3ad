import Foundation

/// A file that cannot be read, written or used: the IO layer's one error (files, `.npy`,
/// `.safetensors`, PNG, GIF). `fix` names the setting that mends it, when one does: the message
/// then ends "; \(before) <setting>\(after)".
public struct FileError: Error, Equatable, SettingError {
    /// The file concerned (empty when there is none, e.g. encoding in memory).
    public var path: String
    /// What is wrong with it.
    public var problem: String
    public var category: ErrorCategory
    /// The setting that mends it, if one does.
    public var fix: Fix?

    /// The setting that mends a `FileError`, with the words around it.
    public struct Fix: Equatable, Sendable {
        /// Text before the setting's name.
        public var before: String
        /// The setting to change.
        public var setting: Setting
        /// Text after the setting's name.
        public var after: String

        /// A fix that reads "`before` <setting>`after`".
        public init(before: String, setting: Setting, after: String) {
            self.before = before
            self.setting = setting
            self.after = after
        }
    }

    /// An error about `path`; `category` decides the exit status a front end gives it.
    public init(path: String, problem: String, category: ErrorCategory = .failure, fix: Fix? = nil) {
        self.path = path
        self.problem = problem
        self.category = category
        self.fix = fix
    }

    /// A file whose contents cannot be used (format, shape or values): an input-data error.
    public static func invalid(path: String, problem: String, fix: Fix? = nil) -> FileError {
        FileError(path: path, problem: problem, category: .inputData, fix: fix)
    }

    public func message(naming spell: (Setting) -> String) -> String {
        (path.isEmpty ? "" : "\(path): ") + problem + (fix.map { "; \($0.before) \(spell($0.setting))\($0.after)" } ?? "")
    }
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
            throw FileError(path: path, problem: "folder \(folder) does not exist; create it first", category: .usage)
        }
        guard let (fd, tempPath) = POSIX.makeTemporary(folder + "/." + url.lastPathComponent + ".tmp-XXXXXX") else {
            let code = POSIX.lastError
            throw FileError(path: path, problem: "cannot create a file in \(folder): \(POSIX.describe(code))\(POSIX.hint(code))")
        }
        var failure: String?
        if let code = data.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) {
            failure = "write failed: \(POSIX.describe(code))\(POSIX.hint(code))"
        }
        if failure == nil && !POSIX.sync(fd) { failure = "fsync failed: \(errorText())" }
        if !POSIX.close(fd) && failure == nil { failure = "close failed: \(errorText())" }
        if failure == nil && !POSIX.setDefaultPermissions(tempPath) { failure = "chmod failed: \(errorText())" }
        if failure == nil && !POSIX.rename(tempPath, path) { failure = "rename failed: \(errorText())" }
        if let failure {
            POSIX.remove(tempPath)
            throw FileError(path: path, problem: failure + " (the previous file, if any, is unchanged)")
        }
        POSIX.syncFolder(folder)
    }

    /// The last error's text and, for errors a user can fix, what to do.
    private static func errorText() -> String {
        let code = POSIX.lastError
        return POSIX.describe(code) + POSIX.hint(code)
    }

    /// Reads a whole file.
    public static func read(_ path: String) throws(FileError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileError(path: path, problem: "no such file; check the path", category: .inputData)
        }
        guard !isDirectory.boolValue else {
            throw FileError(path: path, problem: "is a folder, not a file", category: .inputData)
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw FileError(
                path: path, problem: "cannot be read (\(error.localizedDescription)); check its permissions", category: .inputData
            )
        }
    }

    /// Creates `path` (and parents) as a folder if it does not exist.
    public static func makeFolder(_ path: String) throws(FileError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw FileError(path: path, problem: "exists and is not a folder; choose another path", category: .usage)
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FileError(path: path, problem: "cannot create folder (\(error.localizedDescription))")
        }
    }
}
