// Times the two collectives of a data-parallel training step on this machine, as nca does
// them (Sources/CMPI/mpi.c): the gradient sum (gather to rank 0, add in rank order, broadcast;
// HEAD has 778 values, BIG 4 242) and the all-gather of the mini-batch's predictions.
//   mpicc -O2 collectives.c -o collectives && mpirun -np 2 ./collectives
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static double sum_in_rank_order(double *v, int n, double *scratch, int rank, int size)
{
    double t0 = MPI_Wtime();
    MPI_Gather(v, n, MPI_DOUBLE, scratch, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0)
        for (int i = 0; i < n; i++) {
            double s = scratch[i];
            for (int r = 1; r < size; r++) s += scratch[(long)r * n + i];
            v[i] = s;
        }
    MPI_Bcast(v, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return MPI_Wtime() - t0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int sizes[] = {778, 4242};
    for (int s = 0; s < 2; s++) {
        int n = sizes[s];
        double *v = calloc(n, sizeof(double)), *scratch = calloc((size_t)n * size, sizeof(double));
        double best = 1e9;
        for (int i = 0; i < 2000; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t = sum_in_rank_order(v, n, scratch, rank, size);
            if (t < best) best = t;
        }
        if (rank == 0) printf("gradient sum of %d doubles over %d processes: %.1f us (best of 2000)\n", n, size, best * 1e6);
        free(v);
        free(scratch);
    }
    // Predictions of a HEAD mini-batch: 16 states of 64 x 64 x 8 floats, split evenly.
    int total = 16 * 64 * 64 * 8, mine = total / size;
    float *part = calloc(mine, sizeof(float)), *all = calloc((size_t)mine * size, sizeof(float));
    double best = 1e9;
    for (int i = 0; i < 200; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allgather(part, mine, MPI_FLOAT, all, mine, MPI_FLOAT, MPI_COMM_WORLD);
        double t = MPI_Wtime() - t0;
        if (t < best) best = t;
    }
    if (rank == 0) printf("all-gather of %.1f MB of predictions over %d processes: %.1f us (best of 200)\n", total * 4 / 1e6, size, best * 1e6);
    MPI_Finalize();
    return 0;
}
