// A shim over Open MPI for the toolkit's data-parallel training. Swift cannot import
// MPI_COMM_WORLD, MPI_DOUBLE or MPI_SUM (in Open MPI they are macros over global objects), so
// every MPI call the toolkit makes is one of these functions. All use MPI_COMM_WORLD; each
// returns MPI_SUCCESS (0) or an MPI error code (errors are returned, not fatal).
#ifndef NCA_CMPI_H
#define NCA_CMPI_H

#ifdef __cplusplus
extern "C" {
#endif

/// Initialises MPI (threads: only the calling thread makes MPI calls) and reports this
/// process's rank and the number of processes. Idempotent.
int nca_mpi_init(int *rank, int *size);

/// Ends MPI (call once, after the last MPI call).
int nca_mpi_finalize(void);

/// Stops every process of the job with `code`.
void nca_mpi_abort(int code);

/// Waits for every process.
int nca_mpi_barrier(void);

/// values ← the element-wise sum over all processes, added in rank order (0, 1, 2, …) on rank 0
/// and broadcast, so that the result is the same on every process and every run.
/// `scratch` holds size × count doubles (used on rank 0 only).
int nca_mpi_sum_in_rank_order(double *values, int count, double *scratch);

/// all ← the concatenation, in rank order, of every process's `mine` (counts[r] floats from
/// rank r; the counts must agree on every process).
int nca_mpi_allgather_floats(const float *mine, int count, float *all, const int *counts, const int *displacements);

/// The text of an MPI error code.
void nca_mpi_error_string(int code, char *text, int capacity);

#ifdef __cplusplus
}
#endif

#endif
