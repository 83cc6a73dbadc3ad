// Counts heap allocations made by the calling thread, for tests that check a hot loop
// allocates nothing. Interposes malloc, calloc, realloc, posix_memalign and aligned_alloc in the
// test process and forwards to glibc.
#ifndef NCA_ALLOCATION_COUNTER_H
#define NCA_ALLOCATION_COUNTER_H
long nca_thread_allocation_count(void);
// 0 when the counter is compiled out (under AddressSanitizer, which owns malloc).
int nca_allocation_counting_available(void);
#endif
