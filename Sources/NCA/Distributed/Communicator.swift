import CMPI
import Foundation

/// An MPI call failed (a process of the job died, or the network did).
public struct CommunicationError: NCAUserError {
    /// The MPI operation that failed.
    public var operation: String
    /// What MPI said.
    public var detail: String
    public var category: ErrorCategory { .failure }
    public var description: String {
        "MPI \(operation) failed (\(detail)); another process of the job may have stopped. The last checkpoint is intact: resume the run from it"
    }
}

/// The processes of an `mpirun` job (MPI_COMM_WORLD), for data-parallel training: the only
/// code that calls MPI (through `Sources/CMPI`). Every collective here is deterministic: sums
/// are added in rank order on rank 0 and broadcast, so a run's numbers do not depend on message
/// timing.
public final class Communicator: @unchecked Sendable {
    /// This process's rank, 0 … size − 1.
    public let rank: Int
    /// The number of processes.
    public let size: Int
    private var scratch: [Double] = []

    /// Whether this process was started by Open MPI's `mpirun` (or `srun` with PMIx): MPI is then
    /// initialised by `world`; otherwise the toolkit never touches MPI.
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// This process's rank as the launcher set it in the environment, before MPI is initialised
    /// (nil outside `mpirun`/`srun`).
    public static var launchRank: Int? {
        let environment = ProcessInfo.processInfo.environment
        return Int(environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"] ?? "")
    }

    /// The number of processes of the job on this node (1 outside `mpirun`).
    public static var processesOnThisNode: Int {
        Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
    }

    /// The job's processes when launched by MPI, else nil; initialises MPI on the first call and
    /// returns the same communicator (or the same error) afterwards.
    public static func world() throws(CommunicationError) -> Communicator? { try joined.get() }

    private static let joined: Result<Communicator?, CommunicationError> = {
        guard isLaunchedByMPI else { return .success(nil) }
        var rank: Int32 = 0
        var size: Int32 = 1
        let status = nca_mpi_init(&rank, &size)
        guard status == 0 else { return .failure(CommunicationError(operation: "initialisation", detail: describe(status))) }
        return .success(Communicator(rank: Int(rank), size: Int(size)))
    }()

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// Whether this process writes files and prints (rank 0).
    public var isLeader: Bool { rank == 0 }

    /// The share of `count` items this rank takes (see `shares(of:among:)`).
    public func share(of count: Int) -> Range<Int> { Self.shares(of: count, among: size)[rank] }

    /// The shares of `count` items of every rank, in rank order.
    public func shares(of count: Int) -> [Range<Int>] { Self.shares(of: count, among: size) }

    /// `count` items split over `size` ranks: contiguous, in rank order, the first
    /// `count mod size` ranks one more (ranks past `count` get none).
    public static func shares(of count: Int, among size: Int) -> [Range<Int>] {
        precondition(count >= 0 && size >= 1, "Communicator.shares: count \(count), size \(size)")
        let base = count / size
        let extra = count % size
        return (0..<size).map { r in
            let start = r * base + min(r, extra)
            return start..<(start + base + (r < extra ? 1 : 0))
        }
    }

    /// values ← the sum over all processes, added in rank order (the same on every process).
    public func sumInRankOrder(_ values: inout [Double]) throws(CommunicationError) {
        if size == 1 { return }
        if scratch.count < values.count * size { scratch = [Double](repeating: 0, count: values.count * size) }
        let count = values.count
        let status = values.withUnsafeMutableBufferPointer { v in
            scratch.withUnsafeMutableBufferPointer { s in nca_mpi_sum_in_rank_order(v.baseAddress, Int32(count), s.baseAddress) }
        }
        guard status == 0 else { throw CommunicationError(operation: "sum", detail: Self.describe(status)) }
    }

    /// The concatenation in rank order of every process's `mine`; `counts[r]` is rank r's length.
    public func allGather(_ mine: [Float], counts: [Int]) throws(CommunicationError) -> [Float] {
        precondition(counts.count == size && counts[rank] == mine.count, "Communicator.allGather: counts do not match")
        if size == 1 { return mine }
        var displacements: [Int32] = []
        var offset = 0
        for count in counts {
            displacements.append(Int32(offset))
            offset += count
        }
        let counts32 = counts.map { Int32($0) }
        var all = [Float](repeating: 0, count: offset)
        let status = mine.withUnsafeBufferPointer { m in
            all.withUnsafeMutableBufferPointer { a in
                nca_mpi_allgather_floats(m.baseAddress, Int32(mine.count), a.baseAddress, counts32, displacements)
            }
        }
        guard status == 0 else { throw CommunicationError(operation: "all-gather", detail: Self.describe(status)) }
        return all
    }

    /// Waits for every process.
    public func barrier() throws(CommunicationError) {
        if size == 1 { return }
        let status = nca_mpi_barrier()
        guard status == 0 else { throw CommunicationError(operation: "barrier", detail: Self.describe(status)) }
    }

    /// Stops every process of the job.
    public func abort(code: Int32) -> Never {
        nca_mpi_abort(code)
        exit(code)
    }

    /// Ends MPI; call once at exit.
    public func finalize() { _ = nca_mpi_finalize() }

    private static func describe(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        text.withUnsafeMutableBufferPointer { nca_mpi_error_string(code, $0.baseAddress, 512) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
