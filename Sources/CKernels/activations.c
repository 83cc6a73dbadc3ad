// The smooth activations (tanh, logistic sigmoid, swish) and their pullbacks over whole
// buffers, in single precision, vectorised by the compiler: one branch-free body, compiled
// for AVX-512F, AVX2 + FMA and the baseline and picked at run time. libm's expf and tanhf,
// called per element, cost the engine more than all its products together for these
// activations (the morph preset with tanh ran 7× slower than with relu).
//
// exp(x): x = n ln2 + r with |r| ≤ ln2/2 (Cody-Waite: ln2 split in a short high part and a
// correction), e^r by its Taylor polynomial of degree 6 (truncation < 1.3e-7 relative), and
// 2^n by building the float's exponent bits. Arguments are clamped to [-87, 87], where e^x
// is a normal float.
// tanh(x): for |x| < 0.3 its odd Taylor polynomial of degree 9 (truncation < 2e-8); otherwise
// 1 − 2 / (e^{2|x|} + 1) with x's sign (|x| is clamped at 9, where tanh rounds to 1).
#include "CKernels.h"

#include <stdint.h>
#include <string.h>

static int cached_level = -1;

static inline __attribute__((always_inline)) float nca_expf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
    // Round x / ln2 to the nearest integer with the 1.5 · 2^23 trick (exact for |v| < 2^22).
    const float shifter = 12582912.0f;
    float v = x * 1.44269504088896341f + shifter;
    int32_t vbits, sbits;
    memcpy(&vbits, &v, 4);
    memcpy(&sbits, &shifter, 4);
    int32_t n = vbits - sbits;
    float nf = v - shifter;
    float r = x - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = (n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

static inline __attribute__((always_inline)) float nca_tanhf(float x)
{
    float ax = x < 0 ? -x : x;
    float x2 = x * x;
    float small = 62.0f / 2835.0f;
    small = small * x2 - 17.0f / 315.0f;
    small = small * x2 + 2.0f / 15.0f;
    small = small * x2 - 1.0f / 3.0f;
    small = (small * x2 + 1.0f) * x;
    float e = nca_expf(2.0f * (ax > 9.0f ? 9.0f : ax));
    float big = 1.0f - 2.0f / (e + 1.0f);
    big = x < 0 ? -big : big;
    return ax < 0.3f ? small : big;
}

static inline __attribute__((always_inline)) float nca_logisticf(float x) { return 1.0f / (1.0f + nca_expf(-x)); }

static inline __attribute__((always_inline)) void forward_body(int kind, const float *a, float *out, long n)
{
    switch (kind) {
    case NCA_ACTIVATION_TANH:
        for (long i = 0; i < n; i++) out[i] = nca_tanhf(a[i]);
        break;
    case NCA_ACTIVATION_SIGMOID:
        for (long i = 0; i < n; i++) out[i] = nca_logisticf(a[i]);
        break;
    case NCA_ACTIVATION_SWISH:
        for (long i = 0; i < n; i++) out[i] = a[i] * nca_logisticf(a[i]);
        break;
    }
}

static inline __attribute__((always_inline)) void pullback_body(int kind, float *g, const float *a, long n)
{
    switch (kind) {
    case NCA_ACTIVATION_TANH:
        for (long i = 0; i < n; i++) {
            float t = nca_tanhf(a[i]);
            g[i] *= 1.0f - t * t;
        }
        break;
    case NCA_ACTIVATION_SIGMOID:
        // 1 − s = e·s with e = exp(−a): no cancellation where s is near 1.
        for (long i = 0; i < n; i++) {
            float e = nca_expf(-a[i]);
            float s = 1.0f / (1.0f + e);
            g[i] *= s * (e * s);
        }
        break;
    case NCA_ACTIVATION_SWISH:
        // s + a·s·(1 − s) = s · (1 + a·e·s).
        for (long i = 0; i < n; i++) {
            float e = nca_expf(-a[i]);
            float s = 1.0f / (1.0f + e);
            g[i] *= s * (1.0f + a[i] * (e * s));
        }
        break;
    }
}

#if defined(__x86_64__)
// The CPU's level, found once (relaxed atomics: every thread computes the same value).
static int cpu_level(void)
{
    int level = __atomic_load_n(&cached_level, __ATOMIC_RELAXED);
    if (level < 0) {
        level = nca_kernel_level();
        __atomic_store_n(&cached_level, level, __ATOMIC_RELAXED);
    }
    return level;
}

__attribute__((target("avx512f"))) static void forward_avx512(int kind, const float *a, float *out, long n)
{
    forward_body(kind, a, out, n);
}
__attribute__((target("avx2,fma"))) static void forward_avx2(int kind, const float *a, float *out, long n)
{
    forward_body(kind, a, out, n);
}
__attribute__((target("avx512f"))) static void pullback_avx512(int kind, float *g, const float *a, long n)
{
    pullback_body(kind, g, a, n);
}
__attribute__((target("avx2,fma"))) static void pullback_avx2(int kind, float *g, const float *a, long n)
{
    pullback_body(kind, g, a, n);
}
#endif

void nca_activation_forward(int kind, const float *a, float *out, long n)
{
#if defined(__x86_64__)
    int level = cpu_level();
    if (level >= 2) return forward_avx512(kind, a, out, n);
    if (level == 1) return forward_avx2(kind, a, out, n);
#endif
    forward_body(kind, a, out, n);
}

void nca_activation_pullback(int kind, float *g, const float *a, long n)
{
#if defined(__x86_64__)
    int level = cpu_level();
    if (level >= 2) return pullback_avx512(kind, g, a, n);
    if (level == 1) return pullback_avx2(kind, g, a, n);
#endif
    pullback_body(kind, g, a, n);
}
