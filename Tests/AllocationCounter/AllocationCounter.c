#include "AllocationCounter.h"

#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static _Thread_local long allocations;

long nca_thread_allocation_count(void) { return allocations; }

// Under AddressSanitizer (swift test --sanitize=address) the sanitizer owns malloc; forwarding
// to glibc behind its back would hand it foreign pointers. Count nothing there.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NCA_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NCA_UNDER_ASAN 1
#endif

#ifdef NCA_UNDER_ASAN
int nca_allocation_counting_available(void) { return 0; }
#else
int nca_allocation_counting_available(void) { return 1; }

void *malloc(size_t size) {
    allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    allocations++;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    allocations++;
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    allocations++;
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *result = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    allocations++;
    return __libc_memalign(alignment, size);
}
#endif
