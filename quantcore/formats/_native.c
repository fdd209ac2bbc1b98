/* Fused CPU loops of the quantizers (compiled on first use by formats/native.py; pure-torch fallbacks exist).
 * Each loop does, element by element, exactly the float32 arithmetic of the reference library named above it,
 * so the results are bit-identical; the point is one pass over memory instead of many. */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t v) {
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline void load_block(const void *x, int is_bf16, int64_t start, int64_t len, float *dst) {
    if (is_bf16) {
        const uint16_t *p = (const uint16_t *)x + start;
        for (int64_t j = 0; j < len; j++) dst[j] = bf16_to_f32(p[j]);
    } else {
        memcpy(dst, (const float *)x + start, (size_t)len * sizeof(float));
    }
}

/* bitsandbytes quantize_4bit (default backend, used on CPU): absmax per block; full blocks are scaled by the
 * reciprocal (x * (1 / max(absmax, 1e-38))), the last partial block by division; clamp to [-1, 1]; the code index
 * is the number of sorted-code midpoints strictly below the value (torch.bucketize, right=False), mapped through
 * `order` (identity for NF4, the argsort of the FP4 code); two codes per byte, the first in the high nibble. */
static inline uint8_t code_index(float s, const float *bounds) {
    int q = 0;
    for (int k = 0; k < 15; k++) q += (s > bounds[k]);
    return (uint8_t)q;
}

void qp_bnb4(const void *x, int is_bf16, int64_t n, int64_t bs, const float *bounds, const uint8_t *order,
             uint8_t *packed, float *absmax) {
    const int64_t full = n / bs, rem = n % bs;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < full; b++) {
        float v[4096];
        uint8_t q[4096];
        load_block(x, is_bf16, b * bs, bs, v);
        float am = 0.0f;
        for (int64_t j = 0; j < bs; j++) am = fmaxf(am, fabsf(v[j]));
        absmax[b] = am;
        const float r = 1.0f / (am < 1e-38f ? 1e-38f : am);
        for (int64_t j = 0; j < bs; j++) {
            float s = v[j] * r;
            s = s < -1.0f ? -1.0f : (s > 1.0f ? 1.0f : s);
            q[j] = code_index(s, bounds);
        }
        if (order)
            for (int64_t j = 0; j < bs; j++) q[j] = order[q[j]];
        uint8_t *out = packed + (b * bs) / 2;
        for (int64_t j = 0; j < bs / 2; j++) out[j] = (uint8_t)((q[2 * j] << 4) | q[2 * j + 1]);
    }
    if (rem) {
        float v[4097];
        uint8_t q[4097];
        load_block(x, is_bf16, full * bs, rem, v);
        float am = 0.0f;
        for (int64_t j = 0; j < rem; j++) am = fmaxf(am, fabsf(v[j]));
        absmax[full] = am;
        const float d = am < 1e-38f ? 1e-38f : am;
        for (int64_t j = 0; j < rem; j++) {
            float s = v[j] / d;
            s = s < -1.0f ? -1.0f : (s > 1.0f ? 1.0f : s);
            q[j] = code_index(s, bounds);
        }
        int64_t m = rem;
        if (m % 2) q[m++] = code_index(0.0f, bounds); /* bnb pads the scaled values with one 0 */
        if (order)
            for (int64_t j = 0; j < m; j++) q[j] = order[q[j]];
        uint8_t *out = packed + (full * bs) / 2;
        for (int64_t j = 0; j < m / 2; j++) out[j] = (uint8_t)((q[2 * j] << 4) | q[2 * j + 1]);
    }
}

/* bitsandbytes int8_vectorwise_quant (threshold 0): row_stats = max|row| (fp32),
 * CB = round_half_even(x * (reciprocal(row_stats) * 127)) as int8; an all-zero row gives zeros. */
void qp_int8_rows(const void *x, int is_bf16, int64_t rows, int64_t cols, int8_t *out, float *stats) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float am = 0.0f;
        if (is_bf16) {
            const uint16_t *p = (const uint16_t *)x + r * cols;
            for (int64_t j = 0; j < cols; j++) am = fmaxf(am, fabsf(bf16_to_f32(p[j])));
        } else {
            const float *p = (const float *)x + r * cols;
            for (int64_t j = 0; j < cols; j++) am = fmaxf(am, fabsf(p[j]));
        }
        stats[r] = am;
        int8_t *o = out + r * cols;
        if (am == 0.0f) {
            memset(o, 0, (size_t)cols);
            continue;
        }
        const float m = (1.0f / am) * 127.0f;
        if (is_bf16) {
            const uint16_t *p = (const uint16_t *)x + r * cols;
            for (int64_t j = 0; j < cols; j++) o[j] = (int8_t)nearbyintf(bf16_to_f32(p[j]) * m);
        } else {
            const float *p = (const float *)x + r * cols;
            for (int64_t j = 0; j < cols; j++) o[j] = (int8_t)nearbyintf(p[j] * m);
        }
    }
}

/* torchao quantize_affine on float32 weights, per group of `group` along each row:
 * q = clamp(round_half_even(x * inv[g]) + zero[g], qmin, qmax), where inv is the reciprocal of the stored scale
 * as torch computes it in the scale's dtype; the codes of each group are packed LSB-first, `bits` bits each, into
 * group*bits/8 bytes (a partial last group is padded with zero codes). */
void qp_affine(const void *x, int is_bf16, int64_t rows, int64_t cols, int64_t group, int bits, const float *inv,
               const float *zero, float qmin, float qmax, uint8_t *out) {
    const int64_t groups = (cols + group - 1) / group;
    const int64_t gbytes = group * bits / 8;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float v[1024];
        uint8_t q[1024];
        for (int64_t g = 0; g < groups; g++) {
            const int64_t start = g * group;
            const int64_t len = cols - start < group ? cols - start : group;
            load_block(x, is_bf16, r * cols + start, len, v);
            const float s = inv[r * groups + g], z = zero[r * groups + g];
            for (int64_t j = 0; j < len; j++) {
                float t = nearbyintf(v[j] * s) + z;
                t = t < qmin ? qmin : (t > qmax ? qmax : t);
                q[j] = (uint8_t)(int)t;
            }
            for (int64_t j = len; j < group; j++) q[j] = 0;
            uint8_t *o = out + (r * groups + g) * gbytes;
            if (bits == 8) {
                memcpy(o, q, (size_t)group);
            } else if (bits == 4) {
                for (int64_t j = 0; j < group / 2; j++) o[j] = (uint8_t)(q[2 * j] | (q[2 * j + 1] << 4));
            } else if (bits == 2) {
                for (int64_t j = 0; j < group / 4; j++)
                    o[j] = (uint8_t)(q[4 * j] | (q[4 * j + 1] << 2) | (q[4 * j + 2] << 4) | (q[4 * j + 3] << 6));
            } else {
                memset(o, 0, (size_t)gbytes);
                for (int64_t j = 0; j < group; j++) {
                    const int64_t bit = j * bits;
                    const uint32_t val = (uint32_t)q[j] << (bit % 8);
                    o[bit / 8] |= (uint8_t)(val & 0xFF);
                    if ((bit % 8) + bits > 8) o[bit / 8 + 1] |= (uint8_t)(val >> 8);
                }
            }
        }
    }
}

/* The lab's streaming histogram (lab/histogram.py), one pass per chunk: float64 sum and sum of squares, min and max,
 * the count of NaN/Inf values (stats[0..4]), and, when radius > 0, counts in nbins fine bins over [-radius, radius):
 * bin = (int)((x + radius) * scale) in float32, clamped to the bins, exactly as the torch path computes it. Returns
 * how many finite values lie outside [-radius, radius) (the caller widens the range and bins the chunk again). */
#include <stdlib.h>
int64_t qp_hist(const void *x, int is_bf16, int64_t n, float radius, float scale, int64_t nbins, int64_t *counts,
                double *stats) {
    double s1 = 0.0, s2 = 0.0;
    float mn = INFINITY, mx = -INFINITY;
    int64_t outside = 0, bad = 0;
    const int bins = radius > 0.0f;
#pragma omp parallel reduction(+ : s1, s2, outside, bad) reduction(min : mn) reduction(max : mx)
    {
        int64_t *local = bins ? (int64_t *)calloc((size_t)nbins, sizeof(int64_t)) : NULL;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = is_bf16 ? bf16_to_f32(((const uint16_t *)x)[i]) : ((const float *)x)[i];
            if (!isfinite(v)) {
                bad++;
                continue;
            }
            s1 += (double)v;
            s2 += (double)v * (double)v;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
            if (local) {
                if (!(v >= -radius && v < radius)) outside++;
                /* floor(v * scale) + nbins / 2: v * scale is exact (scale is a power of two), so every value
                 * lands in its true bin, whatever range the running histogram had when it arrived */
                int64_t b = (int64_t)floorf(v * scale) + nbins / 2;
                if (b < 0) b = 0;
                if (b >= nbins) b = nbins - 1;
                local[b]++;
            }
        }
        if (local) {
#pragma omp critical
            for (int64_t b = 0; b < nbins; b++) counts[b] += local[b];
            free(local);
        }
    }
    stats[0] = s1;
    stats[1] = s2;
    stats[2] = mn;
    stats[3] = mx;
    stats[4] = (double)bad;
    return outside;
}

/* Histogram of a 16-bit float chunk (bf16 or fp16) as counts per bit pattern: one table increment per value and
 * nothing else, so that sums, range, bins and percentiles come later, exactly, from the 65,536 counts
 * (lab/histogram.py folds them). Each thread counts into its own two tables (even and odd positions, so that runs
 * of one pattern do not wait on their own increments) and adds them into `table` at the end. */
int64_t qp_count16(const uint16_t *x, int64_t n, int64_t *table) {
    int failed = 0;
#pragma omp parallel shared(failed)
    {
        uint32_t *local = (uint32_t *)calloc(2 * 65536, sizeof(uint32_t));
        if (local == NULL) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp barrier
        if (!failed) { /* the same branch on every thread: `failed` is settled at the barrier */
            uint32_t *odd = local + 65536;
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n / 2; i++) {
                local[x[2 * i]]++;
                odd[x[2 * i + 1]]++;
            }
#pragma omp critical
            for (int64_t k = 0; k < 65536; k++) table[k] += (int64_t)local[k] + (int64_t)odd[k];
        }
        free(local);
    }
    if (failed) return -1; /* out of memory: nothing was counted; the caller takes the torch path */
    if (n % 2) table[x[n - 1]]++;
    return 0;
}

/* float32 -> IEEE half, round to nearest even (numpy's astype(float16), ggml's GGML_FP32_TO_FP16), NaN kept NaN. */
static inline uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00u;  /* NaN */
    if (ax >= 0x47800000u) return sign | 0x7c00u; /* >= 65536 (and inf): inf */
    if (ax < 0x38800000u) {                        /* below 2^-14: a subnormal half (or 0, or the smallest normal) */
        float a;
        memcpy(&a, &ax, 4);
        return sign | (uint16_t)nearbyintf(a * 16777216.0f); /* exact scaling by 2^24, then round half to even */
    }
    const uint32_t mant = ax & 0x7fffffu, rest = mant & 0x1fffu;
    uint32_t h = ((((ax >> 23) - 112u) << 10) | (mant >> 13));
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* a carry moves into the exponent, up to inf */
    return sign | (uint16_t)h;
}

void qp_f16(const float *x, int64_t n, uint16_t *out) {
    for (int64_t i = 0; i < n; i++) out[i] = f32_to_f16(x[i]);
}

/* max |v[j]| over a 32-weight block, in 8 lanes (elementwise `m > a ? m : a` is one vector max instruction; over
 * non-negative values the order of the comparisons does not change the result); *bad is set when a weight is NaN
 * or Inf (all exponent bits set: an integer test, so the loop still vectorizes) */
static inline float block_amax32(const float *v, int *bad) {
    float m[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    uint32_t nonfinite = 0;
    for (int j = 0; j < 32; j += 8)
        for (int l = 0; l < 8; l++) {
            const float a = fabsf(v[j + l]);
            uint32_t u;
            memcpy(&u, &v[j + l], 4);
            nonfinite |= (u & 0x7f800000u) == 0x7f800000u;
            m[l] = m[l] > a ? m[l] : a;
        }
    float amax = 0.0f;
    for (int l = 0; l < 8; l++) amax = amax > m[l] ? amax : m[l];
    *bad = nonfinite != 0;
    return amax;
}

/* ggml quantize_row_q8_0_ref (gguf.quants Q8_0): per 32 weights d = amax / 127, id = d ? 1 / d : 0,
 * q = roundf(x * id); block = fp16 d then 32 int8. */
static inline void q8_0_block(const float *v, float amax, uint8_t *o) {
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = f32_to_f16(d);
    memcpy(o, &h, 2);
    /* roundf(t) == trunc(t + copysign(0.49999997f, t)) for every float32 |t| <= 128 (checked exhaustively; see
     * ggml_fast.py): a form the compiler vectorizes, where roundf is a call per weight */
    for (int j = 0; j < 32; j++) {
        const float t = v[j] * id;
        o[2 + j] = (uint8_t)(int8_t)(int)(t + copysignf(0.49999997f, t));
    }
}

/* ggml quantize_row_q4_0_ref (gguf.quants Q4_0): max = the first weight of largest magnitude, with its sign;
 * d = max / -8, id = d ? 1 / d : 0, q = min(15, (int8_t)(x * id + 8.5f)); weight j in the low nibble of byte j,
 * weight 16 + j in its high nibble. */
static inline void q4_0_block(const float *v, float amax, uint8_t *o) {
    /* the reference's loop (amax < |x|: take x) keeps the first weight of largest magnitude: found here as the
     * first j with |x| == amax after a max the compiler vectorizes; max = 0.0f when all are zero */
    float max = 0.0f;
    for (int j = 0; j < 32 && amax > 0.0f; j++) {
        if (fabsf(v[j]) == amax) {
            max = v[j];
            break;
        }
    }
    const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = f32_to_f16(d);
    memcpy(o, &h, 2);
    int q[32];
    for (int j = 0; j < 32; j++) { /* x * id + 8.5f lies in [0.5, 16.5]: truncation as (int8_t) does */
        const int t = (int)(v[j] * id + 8.5f);
        q[j] = t < 15 ? t : 15;
    }
    for (int j = 0; j < 16; j++) o[2 + j] = (uint8_t)(q[j] | (q[16 + j] << 4));
}

/* nb blocks of 32 float32 or bf16 weights (bf16 widened exactly) -> Q8_0 (34 bytes a block) or Q4_0 (18); returns
 * the number of blocks holding NaN or Inf (the caller then refuses the tensor) */
static int64_t q_blocks(const void *x, int is_bf16, int64_t nb, uint8_t *out, int q4) {
    const int64_t size = q4 ? 18 : 34;
    int64_t nonfinite = 0;
#pragma omp parallel for schedule(static) reduction(+ : nonfinite)
    for (int64_t b = 0; b < nb; b++) {
        int bad;
        float v[32];
        load_block(x, is_bf16, b * 32, 32, v);
        const float amax = block_amax32(v, &bad);
        nonfinite += bad;
        if (q4)
            q4_0_block(v, amax, out + b * size);
        else
            q8_0_block(v, amax, out + b * size);
    }
    return nonfinite;
}

int64_t qp_q8_0(const void *x, int is_bf16, int64_t nb, uint8_t *out) { return q_blocks(x, is_bf16, nb, out, 0); }

int64_t qp_q4_0(const void *x, int is_bf16, int64_t nb, uint8_t *out) { return q_blocks(x, is_bf16, nb, out, 1); }
