// The C surface the NCA library uses: OpenBLAS's CBLAS and LAPACKE (row-major).
// Complex LAPACK types are declared as structs so that the header imports cleanly into Swift;
// the toolkit's one complex routine (zgeev) passes them as such structs.
#ifndef NCA_CBLAS_SHIM_H
#define NCA_CBLAS_SHIM_H
#define HAVE_LAPACK_CONFIG_H 1
#define LAPACK_COMPLEX_STRUCTURE 1
#include <cblas.h>
#include <lapacke.h>
#endif
