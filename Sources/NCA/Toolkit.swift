/// The toolkit itself: the one place its version is set. `nca --version` prints it, run folders
/// (`config.json`) and reports record it, and the latest entry of `CHANGELOG.md` names it (a test
/// checks that the two agree).
public enum Toolkit {
    /// This release's version (semantic versioning).
    public static let version = "0.2.0"
}
