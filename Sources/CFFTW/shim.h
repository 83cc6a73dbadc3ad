// FFTW 3 (Debian's libfftw3-dev), double precision: the spectral loss's 2-D transforms.
#ifndef NCA_CFFTW_SHIM_H
#define NCA_CFFTW_SHIM_H
#include <fftw3.h>
static const int nca_fftw_forward = FFTW_FORWARD;
static const int nca_fftw_backward = FFTW_BACKWARD;
static const unsigned int nca_fftw_estimate = FFTW_ESTIMATE;
#endif
