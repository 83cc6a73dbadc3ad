#include "CMPI.h"
#include <mpi.h>
#include <string.h>

int nca_mpi_init(int *rank, int *size)
{
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
        int provided = 0;
        int status = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (status != MPI_SUCCESS) return status;
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    int status = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (status != MPI_SUCCESS) return status;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int nca_mpi_finalize(void)
{
    int finalised = 0;
    MPI_Finalized(&finalised);
    return finalised ? MPI_SUCCESS : MPI_Finalize();
}

void nca_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int nca_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int nca_mpi_sum_in_rank_order(double *values, int count, double *scratch)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int status = MPI_Gather(values, count, MPI_DOUBLE, scratch, count, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (status != MPI_SUCCESS) return status;
    if (rank == 0) {
        for (int i = 0; i < count; i++) {
            double sum = scratch[i];
            for (int r = 1; r < size; r++) sum += scratch[(long)r * count + i];
            values[i] = sum;
        }
    }
    return MPI_Bcast(values, count, MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

int nca_mpi_allgather_floats(const float *mine, int count, float *all, const int *counts, const int *displacements)
{
    return MPI_Allgatherv(mine, count, MPI_FLOAT, all, counts, displacements, MPI_FLOAT, MPI_COMM_WORLD);
}

void nca_mpi_error_string(int code, char *text, int capacity)
{
    char buffer[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) length = 0;
    if (capacity <= 0) return;
    if (length >= capacity) length = capacity - 1;
    memcpy(text, buffer, (size_t)length);
    text[length] = 0;
}
