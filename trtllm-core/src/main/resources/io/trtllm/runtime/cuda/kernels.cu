// Kernels of the CUDA backend (io.trtllm.runtime.cuda.CudaModelRunner), compiled by NVRTC for the
// GPU's SM when a CUDA engine is built (kept in the engine), else when the runner starts. The model's shape comes in as macros (-D), so loops have constant
// bounds:
//   DIM, HEAD_DIM, N_HEADS, N_KV_HEADS, INTER, EPS (float),
//   WINDOW (sliding window, 0 = none), HAS_QKV_BIAS, HAS_QK_NORM (0/1),
//   WEIGHT_F16 (0/1: the weights and the GEMMs' activation inputs are F16 instead of BF16),
//   KV_BF16, KV_F16 (0/1: the KV cache in BF16 or F16; neither: F32).
// Matmuls are cuBLAS's; everything here is memory-bound glue plus attention. 16-bit floats are
// handled as raw 16-bit words (no cuda_bf16.h / cuda_fp16.h, which NVRTC may not find): bf16
// widening is a shift, narrowing rounds to nearest even, as torch does; f16 goes through the PTX
// cvt instructions (round to nearest even, overflow to infinity, as torch's .half()).
//
// Per-token inputs of a pass live in device memory (tokens, positions, KV slots, row -> sequence,
// block tables), so that a captured graph can replay a pass after only those buffers change.

typedef unsigned short bf16;

#define NEG_INF __int_as_float(0xff800000)

#define Q_DIM (N_HEADS * HEAD_DIM)
#define KV_DIM (N_KV_HEADS * HEAD_DIM)
#define QKV_DIM (Q_DIM + 2 * KV_DIM)
#define GROUP (N_HEADS / N_KV_HEADS)

typedef unsigned short f16;

#if (KV_BF16 + KV_F16 + KV_FP8) > 1
#error "KV_BF16, KV_F16 and KV_FP8 exclude each other"
#endif

__device__ __forceinline__ float bf2f(bf16 h) {
    return __uint_as_float(((unsigned) h) << 16);
}

__device__ __forceinline__ bf16 f2bf(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (bf16) ((u >> 16) | 0x40);  // quiet NaN
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16) (u >> 16);
}

__device__ __forceinline__ float h2f(f16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ f16 f2h(float f) {
    f16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// The value of an FP8 E4M3 code (torch's float8_e4m3fn; io.trtllm.model.Fp8.decode): 4 exponent bits of bias
// 7, 3 mantissa bits, subnormals below 2^-6, 0x7f / 0xff NaN (never written by the engine builder).
__device__ __forceinline__ float e4m3_to_f(unsigned b) {
    unsigned e = (b >> 3) & 0xfu;
    unsigned m = b & 7u;
    float v = e == 0 ? (float) m * 0.001953125f : __uint_as_float(((e + 120u) << 23) | (m << 20));
    v = (b & 0x7fu) == 0x7fu ? __int_as_float(0x7fc00000) : v;
    return (b & 0x80u) ? -v : v;
}

// f32 -> E4M3 code, round to nearest even, saturating to ±448, NaN -> 0x7f (io.trtllm.model.Fp8.encode): the
// cvt.rn.satfinite instruction on sm_89+, the same in integer steps below (FP8 is refused there; it compiles).
__device__ __forceinline__ unsigned f_to_e4m3(float f) {
#if __CUDA_ARCH__ >= 890
    unsigned short pair;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(0.0f), "f"(f));
    return pair & 0xffu;
#else
    unsigned u = __float_as_uint(f);
    unsigned sign = (u >> 24) & 0x80u;
    unsigned a = u & 0x7fffffffu;
    if (a > 0x7f800000u) {
        return 0x7fu;
    }
    if (a >= 0x43e00000u) {  // 448
        return sign | 0x7eu;
    }
    if (a < 0x3c800000u) {  // 2^-6: subnormals, multiples of 2^-9
        return sign | (unsigned) __float2int_rn(__uint_as_float(a) * 512.0f);
    }
    int e = (int) (a >> 23) - 127;
    unsigned m = (a >> 20) & 7u;
    unsigned rest = a & 0xfffffu;
    if (rest > 0x80000u || (rest == 0x80000u && (m & 1u))) {
        m++;
    }
    if (m == 8u) {
        m = 0;
        e++;
    }
    if (e > 8 || (e == 8 && m == 7u)) {
        return sign | 0x7eu;
    }
    return sign | ((unsigned) (e + 7) << 3) | m;
#endif
}

// wt: the 16-bit type of the weights (the embedding table included) and of the activations that
// feed the GEMMs (rmsnorm, attention and silu_mul outputs); wt2f / f2wt convert it.
#if WEIGHT_F16
typedef f16 wt;
__device__ __forceinline__ float wt2f(wt w) {
    return h2f(w);
}
__device__ __forceinline__ wt f2wt(float f) {
    return f2h(f);
}
#else
typedef bf16 wt;
__device__ __forceinline__ float wt2f(wt w) {
    return bf2f(w);
}
__device__ __forceinline__ wt f2wt(float f) {
    return f2bf(f);
}
#endif

// kv_t: the KV cache's elements. KV_FP8: E4M3 codes of scale 1 (TensorRT-LLM's default without calibrated
// scales): a key or value is stored rounded to 3 mantissa bits (2^-4 relative at most), saturating at ±448, with
// steps of 2^-9 below 2^-6; attention reads them back as floats.
#if KV_BF16
typedef bf16 kv_t;
#elif KV_F16
typedef f16 kv_t;
#elif KV_FP8
typedef unsigned char kv_t;
#else
typedef float kv_t;
#endif

__device__ __forceinline__ float kv_load(const kv_t* p) {
#if KV_BF16
    return bf2f(*p);
#elif KV_F16
    return h2f(*p);
#elif KV_FP8
    return e4m3_to_f(*p);
#else
    return *p;
#endif
}

__device__ __forceinline__ kv_t kv_store(float f) {
#if KV_BF16
    return f2bf(f);
#elif KV_F16
    return f2h(f);
#elif KV_FP8
    return (kv_t) f_to_e4m3(f);
#else
    return f;
#endif
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets it.
__device__ float block_sum(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0) {
        partial[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        float s = lane < (blockDim.x >> 5) ? partial[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) {
            total = s;
        }
    }
    __syncthreads();
    float r = total;
    __syncthreads();
    return r;
}

// x[t] = embedding[tokens[t] - first] (wt -> f32) for the table's rows [first, first + rows); 0 for a token
// outside them (a tensor-parallel rank holds a range of the vocabulary; the sum over the ranks is the lookup).
// One rank: first 0, rows = vocab. Grid: T blocks.
extern "C" __global__ void embed(const int* __restrict__ tokens, const wt* __restrict__ table,
                                 float* __restrict__ x, int first, int rows) {
    int t = blockIdx.x;
    int id = tokens[t] - first;
    if (id < 0 || id >= rows) {
        for (int i = threadIdx.x; i < DIM; i += blockDim.x) {
            x[(long) t * DIM + i] = 0.0f;
        }
        return;
    }
    const wt* row = table + (long) id * DIM;
    for (int i = threadIdx.x; i < DIM; i += blockDim.x) {
        x[(long) t * DIM + i] = wt2f(row[i]);
    }
}

// out[r] = wt(weight * x[src] / sqrt(mean(x[src]^2) + eps)), src = rows ? rows[r] : r, as
// Hugging Face's LlamaRMSNorm. Grid: one block per output row.
extern "C" __global__ void rmsnorm(const float* __restrict__ x, const int* __restrict__ rows,
                                   const float* __restrict__ weight, wt* __restrict__ out) {
    int r = blockIdx.x;
    int src = rows != nullptr ? rows[r] : r;
    const float* in = x + (long) src * DIM;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < DIM; i += blockDim.x) {
        float v = in[i];
        ss += v * v;
    }
    ss = block_sum(ss);
    float inv = rsqrtf(ss / DIM + EPS);
    for (int i = threadIdx.x; i < DIM; i += blockDim.x) {
        out[(long) r * DIM + i] = f2wt(weight[i] * (in[i] * inv));
    }
}

// x[t] += bias (an output projection's bias). Grid: T blocks.
extern "C" __global__ void add_bias(float* __restrict__ x, const float* __restrict__ bias) {
    int t = blockIdx.x;
    for (int i = threadIdx.x; i < DIM; i += blockDim.x) {
        x[(long) t * DIM + i] += bias[i];
    }
}

// After the fused q|k|v projection of row t (qkv[t] = [q heads | k heads | v heads], f32):
// + bias, per-head RMSNorm of q and k (Qwen3), rotary embedding of q and k (Hugging Face's
// half-split pairs (i, i + HEAD_DIM/2)), q written back in place, k and v stored in the KV cache at
// the row's slot ([slot][kv head][HEAD_DIM]). Grid: (T, any) blocks of 32 * POST_WARPS threads, one
// warp per head, the heads spread over the grid's y (at one row, ceil(heads / POST_WARPS) blocks keep
// the heads in parallel instead of POST_WARPS warps walking them).
#define POST_WARPS 4
extern "C" __global__ void qkv_post(float* __restrict__ qkv, const float* __restrict__ bias,
                                    const float* __restrict__ q_norm, const float* __restrict__ k_norm,
                                    const float* __restrict__ inv_freq, const int* __restrict__ positions,
                                    const int* __restrict__ slots, kv_t* __restrict__ k_cache,
                                    kv_t* __restrict__ v_cache) {
    __shared__ float head[POST_WARPS][HEAD_DIM];
    int t = blockIdx.x;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    float pos = (float) positions[t];
    long slot = slots[t];
    float* row = qkv + (long) t * QKV_DIM;
    for (int h = blockIdx.y * POST_WARPS + warp; h < N_HEADS + 2 * N_KV_HEADS; h += gridDim.y * POST_WARPS) {
        int off = h * HEAD_DIM;
        float ss = 0.0f;
        for (int i = lane; i < HEAD_DIM; i += 32) {
            float v = row[off + i];
#if HAS_QKV_BIAS
            v += bias[off + i];
#endif
            head[warp][i] = v;
            ss += v * v;
        }
        if (h >= N_HEADS + N_KV_HEADS) {  // a v head: to the cache as it is
            for (int i = lane; i < HEAD_DIM; i += 32) {
                v_cache[slot * KV_DIM + (off - Q_DIM - KV_DIM) + i] = kv_store(head[warp][i]);
            }
            continue;
        }
#if HAS_QK_NORM
        ss = warp_sum(ss);
        float inv = rsqrtf(ss / HEAD_DIM + EPS);
        const float* w = h < N_HEADS ? q_norm : k_norm;
        for (int i = lane; i < HEAD_DIM; i += 32) {
            head[warp][i] = w[i] * (head[warp][i] * inv);
        }
#endif
        __syncwarp();
        for (int i = lane; i < HEAD_DIM / 2; i += 32) {
            float angle = pos * inv_freq[i];
            float c = cosf(angle);
            float s = sinf(angle);
            float x0 = head[warp][i];
            float x1 = head[warp][i + HEAD_DIM / 2];
            float y0 = x0 * c - x1 * s;
            float y1 = x1 * c + x0 * s;
            if (h < N_HEADS) {
                row[off + i] = y0;
                row[off + i + HEAD_DIM / 2] = y1;
            } else {
                long base = slot * KV_DIM + (off - Q_DIM);
                k_cache[base + i] = kv_store(y0);
                k_cache[base + i + HEAD_DIM / 2] = kv_store(y1);
            }
        }
        __syncwarp();
    }
}

// Paged attention of every row over its sequence's cached positions [max(0, pos - WINDOW + 1), pos]
// (causal; prefill, chunked-prefill and decode rows alike), GQA. Grid: (T, N_HEADS) blocks of
// 32 * ATT_WARPS threads. A warp works on 32 / LANES positions at once, LANES lanes per position
// each holding DPL consecutive dims; online softmax per lane group, merged across groups and warps
// at the end. Output in wt (the input of the o-projection). The block tables' stride is read from
// device memory, so that a captured graph replays with tables of any length.
#define ATT_WARPS 8
#define LANES 8
#define DPL ((HEAD_DIM + LANES - 1) / LANES)
#define POS_PER_WARP (32 / LANES)
extern "C" __global__ void __launch_bounds__(32 * ATT_WARPS)
attention(const float* __restrict__ qkv, const kv_t* __restrict__ k_cache, const kv_t* __restrict__ v_cache,
          const int* __restrict__ positions, const int* __restrict__ row_seq,
          const int* __restrict__ block_tables, const int* __restrict__ table_stride, int block_size, float scale,
          wt* __restrict__ out) {
    __shared__ float s_m[ATT_WARPS * POS_PER_WARP];
    __shared__ float s_l[ATT_WARPS * POS_PER_WARP];
    __shared__ float s_acc[ATT_WARPS * POS_PER_WARP][HEAD_DIM];
    int t = blockIdx.x;
    int h = blockIdx.y;
    int kvh = h / GROUP;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int g = lane % LANES;          // which dims
    int sub = lane / LANES;        // which position of the warp's step
    int d0 = g * DPL;

    float q[DPL];
    const float* qrow = qkv + (long) t * QKV_DIM + h * HEAD_DIM;
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        q[j] = d0 + j < HEAD_DIM ? qrow[d0 + j] * scale : 0.0f;
    }
    int pos = positions[t];
    const int* table = block_tables + (long) row_seq[t] * *table_stride;
    int from = 0;
#if WINDOW > 0
    from = max(0, pos - WINDOW + 1);
#endif
    float m = NEG_INF;
    float l = 0.0f;
    float acc[DPL];
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        acc[j] = 0.0f;
    }
    for (int p0 = from; p0 <= pos; p0 += ATT_WARPS * POS_PER_WARP) {
        int p = p0 + warp * POS_PER_WARP + sub;
        bool valid = p <= pos;
        float kv[DPL];
        float vv[DPL];
        if (valid) {
            long slot = (long) table[p / block_size] * block_size + p % block_size;
            const kv_t* kp = k_cache + slot * KV_DIM + kvh * HEAD_DIM + d0;
            const kv_t* vp = v_cache + slot * KV_DIM + kvh * HEAD_DIM + d0;
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                bool in = d0 + j < HEAD_DIM;
                kv[j] = in ? kv_load(kp + j) : 0.0f;
                vv[j] = in ? kv_load(vp + j) : 0.0f;
            }
        } else {
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                kv[j] = 0.0f;
                vv[j] = 0.0f;
            }
        }
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < DPL; j++) {
            s += q[j] * kv[j];
        }
        for (int o = LANES / 2; o > 0; o >>= 1) {
            s += __shfl_xor_sync(0xffffffffu, s, o);
        }
        if (valid) {
            float m_new = fmaxf(m, s);
            float corr = expf(m - m_new);
            float e = expf(s - m_new);
            l = l * corr + e;
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                acc[j] = acc[j] * corr + e * vv[j];
            }
            m = m_new;
        }
    }
    int slotIdx = warp * POS_PER_WARP + sub;
    if (g == 0) {
        s_m[slotIdx] = m;
        s_l[slotIdx] = l;
    }
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        if (d0 + j < HEAD_DIM) {
            s_acc[slotIdx][d0 + j] = acc[j];
        }
    }
    __syncthreads();
    const int groups = ATT_WARPS * POS_PER_WARP;
    float mx = NEG_INF;
    for (int i = 0; i < groups; i++) {
        mx = fmaxf(mx, s_m[i]);
    }
    float denom = 0.0f;
    for (int i = 0; i < groups; i++) {
        denom += s_m[i] == NEG_INF ? 0.0f : s_l[i] * expf(s_m[i] - mx);
    }
    for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float num = 0.0f;
        for (int i = 0; i < groups; i++) {
            num += s_m[i] == NEG_INF ? 0.0f : s_acc[i][d] * expf(s_m[i] - mx);
        }
        out[(long) t * Q_DIM + h * HEAD_DIM + d] = f2wt(num / denom);
    }
}

// h[t] = wt(silu(gate) * up) with gate_up[t] = [gate (INTER) | up (INTER)] in f32. Grid: T blocks.
extern "C" __global__ void silu_mul(const float* __restrict__ gate_up, wt* __restrict__ h) {
    int t = blockIdx.x;
    const float* row = gate_up + (long) t * 2 * INTER;
    for (int i = threadIdx.x; i < INTER; i += blockDim.x) {
        float g = row[i];
        float s = g / (1.0f + expf(-g));
        h[(long) t * INTER + i] = f2wt(s * row[INTER + i]);
    }
}

// (best, bi) of the warp: the largest value, the lowest index among equals; every lane gets it.
__device__ __forceinline__ void warp_argmax(float& best, int& bi) {
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, best, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > best || (ov == best && oi < bi)) {
            best = ov;
            bi = oi;
        }
    }
}

// ids[r] = index of the largest logit of row r, the lowest on ties (torch.argmax), so that a greedy
// step sends back a token id instead of a vocabulary row. Grid: R blocks of 1024 threads.
extern "C" __global__ void argmax_rows(const float* __restrict__ logits, int vocab, int* __restrict__ ids) {
    __shared__ float s_val[32];
    __shared__ int s_idx[32];
    const float* row = logits + (long) blockIdx.x * vocab;
    float best = NEG_INF;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (v > best) {
            best = v;
            bi = i;
        }
    }
    warp_argmax(best, bi);
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    if (lane == 0) {
        s_val[warp] = best;
        s_idx[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
        int warps = blockDim.x >> 5;
        best = lane < warps ? s_val[lane] : NEG_INF;
        bi = lane < warps ? s_idx[lane] : 0x7fffffff;
        warp_argmax(best, bi);
        if (lane == 0) {
            ids[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
        }
    }
}

// Guided decoding: logits[r][i] = -inf for every token i that row r's bitmask does not allow, before
// the argmax or the draw (bit i & 63 of word i >> 6, xgrammar's layout in 64-bit words). mask_of[r] is the
// bitmask of row r (words [mask_of[r] * words_per_row, ...)), or -1 for a row without one, whose block
// returns at once: unconstrained rows of a mixed batch cost one idle block. Grid: R blocks of 256 threads.
extern "C" __global__ void mask_rows(float* __restrict__ logits, int vocab, const unsigned long long* __restrict__ words,
                                     int words_per_row, const int* __restrict__ mask_of) {
    const int m = mask_of[blockIdx.x];
    if (m < 0) {
        return;
    }
    float* row = logits + (long) blockIdx.x * vocab;
    const unsigned long long* w = words + (long) m * words_per_row;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        if (!((w[i >> 6] >> (i & 63)) & 1ull)) {
            row[i] = NEG_INF;
        }
    }
}

// ---- attention: tensor-core tiles for prefill rows, split decode for long contexts (AttentionPlan.java) ----
//
// The runner sends each chunk of at least AttentionPlan.TILE_MIN_ROWS rows through attention_tc, in tiles of
// up to TC_M consecutive rows of one sequence (the host's tile table: {sequence, first row, rows, first
// position}); the other rows (decode) through attention_decode, by a row list. Both read the cache through
// kv_load (or a 16-byte copy where kv_t is already the mma's 16-bit type), so the cache's type stays kv_t's.
//
// Batch invariance: a row's result depends on its own query, position and cache only. attention_tc: the
// mma computes each row's dot products apart from the other rows; KV tiles start at multiples of TC_N
// (absolute positions), so a row sees the same tiles in the same order whatever tile of rows it is in; a
// tile that is masked for a row in full leaves its m, l, o exactly as they were (corr = 1, p = 0).
// attention_decode: the split of a row's range is a function of its length and the pass's split_keys alone
// (decode_splits), and attention_reduce merges the splits in a fixed order. split_keys is SPLIT_KEYS, or
// SMALL_SPLIT_KEYS in passes of at most 8 decode rows (AttentionPlan): a row computes the same alone and in
// any such pass, as the GEMV does.

// ---- attention_tc: FlashAttention-2 on mma.sync m16n8k16 (16-bit inputs, f32 accumulation) ----
// Grid: (tiles, N_HEADS) blocks of 32 * TC_WARPS threads; warp w takes rows [16w, 16w + 16) of the tile,
// with Q (rounded to wt) in registers, S = Q·Kᵀ and O = P·V in f32 registers, the online softmax per row.
// K and V tiles of TC_N positions are gathered by the block table into shared memory ([key][dim],
// rows padded by 8 elements so that fragment loads meet no bank conflicts); the causal mask and the
// window are applied only in tiles that cross a row's bounds. Compiled where HEAD_DIM % 16 == 0 and
// HEAD_DIM <= 128 (AttentionPlan.tensorCores); other models keep the row kernels.
#if HEAD_DIM % 16 == 0 && HEAD_DIM <= 128
#define TC_WARPS 4
#define TC_M (16 * TC_WARPS)
#define TC_N 64
#define TC_PAD (HEAD_DIM + 8)
#if WEIGHT_F16
#define TC_MMA "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"
#else
#define TC_MMA "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"
#endif

// Two floats as a pair of wt in one 32-bit register, the first in the low half (the lower k index).
__device__ __forceinline__ unsigned tc_pack(float lo, float hi) {
    return (unsigned) f2wt(lo) | ((unsigned) f2wt(hi) << 16);
}

// d += a·b: a 16×16 (row-major fragment, 4 registers), b 16×8 (column-major fragment, 2 registers).
__device__ __forceinline__ void tc_mma(float* d, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile(TC_MMA " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned tc_smem(const void* p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// Eight consecutive cache values (16-byte aligned) to shared memory as wt: a plain copy where kv_t is wt.
__device__ __forceinline__ void tc_copy8(wt* dst, const kv_t* src) {
#if (KV_BF16 && !WEIGHT_F16) || (KV_F16 && WEIGHT_F16)
    *(uint4*) dst = *(const uint4*) src;
#else
#pragma unroll
    for (int j = 0; j < 8; j++) {
        dst[j] = f2wt(kv_load(src + j));
    }
#endif
}

extern "C" __global__ void __launch_bounds__(32 * TC_WARPS)
attention_tc(const float* __restrict__ qkv, const kv_t* __restrict__ k_cache, const kv_t* __restrict__ v_cache,
             const int4* __restrict__ tiles, const int* __restrict__ block_tables,
             const int* __restrict__ table_stride, int block_size, float scale, wt* __restrict__ out) {
    __shared__ __align__(16) wt sk[TC_N][TC_PAD];
    __shared__ __align__(16) wt sv[TC_N][TC_PAD];
    const int4 tile = tiles[blockIdx.x];  // {sequence, first row, rows, first position}
    const int h = blockIdx.y;
    const int kvh = h / GROUP;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;  // fragment row (and column of B)
    const int q4 = lane & 3;  // fragment column pair
    const int* table = block_tables + (long) tile.x * *table_stride;
    const int last = tile.w + tile.z - 1;  // the tile's last position
    // This thread's two rows: ra = 16 * warp + g and rb = ra + 8 (rows past the tile's end compute on the
    // last row's query and store nothing).
    const int ra = warp * 16 + g;
    const int rb = ra + 8;
    const int pa = tile.w + ra;
    const int pb = tile.w + rb;

    unsigned qf[HEAD_DIM / 16][4];
    {
        const float* qa = qkv + (long) (tile.y + min(ra, tile.z - 1)) * QKV_DIM + h * HEAD_DIM;
        const float* qb = qkv + (long) (tile.y + min(rb, tile.z - 1)) * QKV_DIM + h * HEAD_DIM;
#pragma unroll
        for (int kk = 0; kk < HEAD_DIM / 16; kk++) {
            int d = kk * 16 + 2 * q4;
            qf[kk][0] = tc_pack(qa[d], qa[d + 1]);
            qf[kk][1] = tc_pack(qb[d], qb[d + 1]);
            qf[kk][2] = tc_pack(qa[d + 8], qa[d + 9]);
            qf[kk][3] = tc_pack(qb[d + 8], qb[d + 9]);
        }
    }
    const float sl2 = scale * 1.4426950408889634f;  // scores in log2 units: exp2f
    float m[2] = {NEG_INF, NEG_INF};
    float l[2] = {0.0f, 0.0f};
    float o[HEAD_DIM / 8][4];
#pragma unroll
    for (int n = 0; n < HEAD_DIM / 8; n++) {
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    }
    int lo = 0;
#if WINDOW > 0
    lo = max(0, tile.w - WINDOW + 1);
#endif
    lo -= lo % TC_N;
    for (int k0 = lo; k0 <= last; k0 += TC_N) {
        __syncthreads();  // the previous tile is consumed
        for (int i = threadIdx.x; i < TC_N * (HEAD_DIM / 8); i += blockDim.x) {
            int key = i / (HEAD_DIM / 8);
            int c = (i % (HEAD_DIM / 8)) * 8;
            int p = k0 + key;
            if (p <= last) {
                long off = ((long) table[p / block_size] * block_size + p % block_size) * KV_DIM + kvh * HEAD_DIM + c;
                tc_copy8(&sk[key][c], k_cache + off);
                tc_copy8(&sv[key][c], v_cache + off);
            } else {
                *(uint4*) &sk[key][c] = make_uint4(0, 0, 0, 0);
                *(uint4*) &sv[key][c] = make_uint4(0, 0, 0, 0);
            }
        }
        __syncthreads();
        float s[TC_N / 8][4];
#pragma unroll
        for (int n = 0; n < TC_N / 8; n++) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
        }
#pragma unroll
        for (int kk = 0; kk < HEAD_DIM / 16; kk++) {
#pragma unroll
            for (int n = 0; n < TC_N / 8; n++) {
                const wt* kr = &sk[n * 8 + g][kk * 16 + 2 * q4];
                tc_mma(s[n], qf[kk], *(const unsigned*) kr, *(const unsigned*) (kr + 8));
            }
        }
        // Masks only where the tile crosses a bound of some row: the diagonal (keys past the first row's
        // position) or the window's start (keys before the last row's).
        bool edge = k0 + TC_N - 1 > tile.w;
#if WINDOW > 0
        edge |= k0 < last - WINDOW + 1;
#endif
        float mx[2] = {NEG_INF, NEG_INF};
#pragma unroll
        for (int n = 0; n < TC_N / 8; n++) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float v = s[n][j] * sl2;
                if (edge) {
                    int key = k0 + n * 8 + 2 * q4 + (j & 1);
                    int p = j < 2 ? pa : pb;
                    bool out_of_range = key > p;
#if WINDOW > 0
                    out_of_range |= key < p - WINDOW + 1;
#endif
                    v = out_of_range ? NEG_INF : v;
                }
                s[n][j] = v;
                mx[j >> 1] = fmaxf(mx[j >> 1], v);
            }
        }
        float corr[2];
        float base[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            float m_new = fmaxf(m[i], mx[i]);
            base[i] = m_new == NEG_INF ? 0.0f : m_new;  // a row with nothing seen yet stays at 0
            corr[i] = exp2f(m[i] - base[i]);
            m[i] = m_new;
            l[i] *= corr[i];
        }
#pragma unroll
        for (int n = 0; n < HEAD_DIM / 8; n++) {
            o[n][0] *= corr[0];
            o[n][1] *= corr[0];
            o[n][2] *= corr[1];
            o[n][3] *= corr[1];
        }
#pragma unroll
        for (int n = 0; n < TC_N / 8; n++) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float e = exp2f(s[n][j] - base[j >> 1]);
                s[n][j] = e;
                l[j >> 1] += e;
            }
        }
        // O += P·V: S's accumulator fragments of key columns [16kk, 16kk + 16) are P's A fragment for
        // k-step kk; V's B fragments come transposed out of shared memory by ldmatrix.trans, two
        // 8-column tiles of dims per instruction.
#pragma unroll
        for (int kk = 0; kk < TC_N / 16; kk++) {
            unsigned a[4] = {tc_pack(s[2 * kk][0], s[2 * kk][1]), tc_pack(s[2 * kk][2], s[2 * kk][3]),
                             tc_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), tc_pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int n = 0; n < HEAD_DIM / 8; n += 2) {
                // Lanes 0-7: keys 16kk + 0..7, dims of tile n; 8-15: keys + 8; 16-31: the same for tile n + 1.
                const wt* row = &sv[kk * 16 + (lane & 15)][(n + (lane >> 4)) * 8];
                unsigned b0, b1, b2, b3;
                asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                             : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3) : "r"(tc_smem(row)));
                tc_mma(o[n], a, b0, b1);
                tc_mma(o[n + 1], a, b2, b3);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    }
    float inv_a = 1.0f / l[0];
    float inv_b = 1.0f / l[1];
    wt* oa = out + (long) (tile.y + ra) * Q_DIM + h * HEAD_DIM;
    wt* ob = out + (long) (tile.y + rb) * Q_DIM + h * HEAD_DIM;
#pragma unroll
    for (int n = 0; n < HEAD_DIM / 8; n++) {
        int d = n * 8 + 2 * q4;
        if (ra < tile.z) {
            *(unsigned*) (oa + d) = (unsigned) f2wt(o[n][0] * inv_a) | ((unsigned) f2wt(o[n][1] * inv_a) << 16);
        }
        if (rb < tile.z) {
            *(unsigned*) (ob + d) = (unsigned) f2wt(o[n][2] * inv_b) | ((unsigned) f2wt(o[n][3] * inv_b) << 16);
        }
    }
}

// ---- attention_fa: attention_tc's math in 128-row tiles, K/V loads overlapped with the mma (-Dtrtllm.cuda.attention.fa) ----
// FlashAttention-2's schedule on the same fragments as attention_tc: FA_WARPS warps of 16 rows each (FA_M = 128
// query rows per block, AttentionPlan.FA_TILE_ROWS), so each K/V tile brought into shared memory serves twice the
// rows; the V tile of a step is copied (cp.async, where kv_t is wt) while the warps compute S = Q·Kᵀ, and the next
// step's K tile while they compute the softmax and O += P·V, so that only one K and one V tile (34.8 KB) are held.
// K's B fragments come by ldmatrix (x4: two 8-key tiles of 16 dims), 16-bit packing by cvt.rn.bf16x2 / f16x2.
// A warp skips a key tile that is masked in full for all its rows (past its last row, before its first row's
// window) and masks only the tiles that cross one of its rows' bounds. Grid: tiles × N_HEADS blocks in one
// dimension, the head fastest and the tile table taken from its end, so that the longest tiles of a prompt (the
// last ones, most keys) start first and the query heads of one KV head run side by side (their K/V reads meet in
// L2). Batch invariance as attention_tc: key tiles start at multiples of FA_N (absolute positions) whatever tile a
// row is in, a skipped or masked tile leaves a row's m, l, o exactly as they were (corr = 1 or, before its first
// key, 0 on zeros; p = 0), so a row computes the same in any tile, alone or batched.
#ifndef FA_WARPS
// The runner's 8 (AttentionPlan.FA_TILE_ROWS); -DFA_WARPS=4: 64-row tiles, two blocks an SM (CudaAttentionGpuTests).
#define FA_WARPS 8
#endif
#if FA_WARPS != 4 && FA_WARPS != 8
#error "FA_WARPS is 4 or 8"
#endif
#define FA_M (16 * FA_WARPS)
#define FA_N 64
#define FA_CHUNKS (FA_N * (HEAD_DIM / 8))  // 16-byte chunks of a K or V tile
#if (KV_BF16 && !WEIGHT_F16) || (KV_F16 && WEIGHT_F16)
#define FA_ASYNC 1
#else
#define FA_ASYNC 0
#endif

// Two floats as a pair of wt in one 32-bit register, the first in the low half: tc_pack in one instruction (round
// to nearest even as f2wt; NaN as the canonical NaN).
__device__ __forceinline__ unsigned fa_pack(float lo, float hi) {
    unsigned r;
#if WEIGHT_F16
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#else
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#endif
    return r;
}

// The tile of keys [k0, k0 + FA_N) of cache (K or V) into dst, keys past last as zeros: cp.async (16 bytes, L2
// only) where kv_t is wt, to be waited for by fa_wait; else converted through registers.
__device__ __forceinline__ void fa_load(wt (*dst)[TC_PAD], const kv_t* __restrict__ cache, const int* table,
                                        int block_size, int kvh, int k0, int last) {
#pragma unroll
    for (int j = 0; j < (FA_CHUNKS + 32 * FA_WARPS - 1) / (32 * FA_WARPS); j++) {
        int i = threadIdx.x + j * 32 * FA_WARPS;
        if (FA_CHUNKS % (32 * FA_WARPS) == 0 || i < FA_CHUNKS) {
            int key = i / (HEAD_DIM / 8);
            int c = (i % (HEAD_DIM / 8)) * 8;
            int p = k0 + key;
            wt* d = &dst[key][c];
            if (p <= last) {
                long off = ((long) table[p / block_size] * block_size + p % block_size) * KV_DIM + kvh * HEAD_DIM + c;
#if FA_ASYNC
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(tc_smem(d)), "l"(cache + off) : "memory");
#else
                tc_copy8(d, cache + off);
#endif
            } else {
                *(uint4*) d = make_uint4(0, 0, 0, 0);
            }
        }
    }
#if FA_ASYNC
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

// Waits for this thread's copies of fa_load; the caller's __syncthreads then makes every thread's visible.
__device__ __forceinline__ void fa_wait() {
#if FA_ASYNC
    asm volatile("cp.async.wait_group 0;" ::: "memory");
#endif
}

extern "C" __global__ void __launch_bounds__(32 * FA_WARPS, 8 / FA_WARPS)
attention_fa(const float* __restrict__ qkv, const kv_t* __restrict__ k_cache, const kv_t* __restrict__ v_cache,
             const int4* __restrict__ tiles, const int* __restrict__ block_tables,
             const int* __restrict__ table_stride, int block_size, float scale, wt* __restrict__ out) {
    __shared__ __align__(16) wt sk[FA_N][TC_PAD];
    __shared__ __align__(16) wt sv[FA_N][TC_PAD];
    const int h = blockIdx.x % N_HEADS;
    const int4 tile = tiles[gridDim.x / N_HEADS - 1 - blockIdx.x / N_HEADS];  // {sequence, first row, rows, first position}
    const int kvh = h / GROUP;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;  // fragment row (and column of B)
    const int q4 = lane & 3;  // fragment column pair
    const int* table = block_tables + (long) tile.x * *table_stride;
    const int last = tile.w + tile.z - 1;  // the tile's last position
    // This thread's two rows ra = 16 * warp + g and rb = ra + 8; rows past the tile's end compute on the last
    // row's query and position and store nothing. The warp's rows: positions [wfirst, wlast], none if !rows.
    const int ra = warp * 16 + g;
    const int rb = ra + 8;
    const int pa = tile.w + min(ra, tile.z - 1);
    const int pb = tile.w + min(rb, tile.z - 1);
    const bool rows = warp * 16 < tile.z;
    const int wfirst = tile.w + warp * 16;
    const int wlast = tile.w + min(warp * 16 + 15, tile.z - 1);

    unsigned qf[HEAD_DIM / 16][4];
    {
        const float* qa = qkv + (long) (tile.y + (pa - tile.w)) * QKV_DIM + h * HEAD_DIM;
        const float* qb = qkv + (long) (tile.y + (pb - tile.w)) * QKV_DIM + h * HEAD_DIM;
#pragma unroll
        for (int kk = 0; kk < HEAD_DIM / 16; kk++) {
            int d = kk * 16 + 2 * q4;
            qf[kk][0] = fa_pack(qa[d], qa[d + 1]);
            qf[kk][1] = fa_pack(qb[d], qb[d + 1]);
            qf[kk][2] = fa_pack(qa[d + 8], qa[d + 9]);
            qf[kk][3] = fa_pack(qb[d + 8], qb[d + 9]);
        }
    }
    const float sl2 = scale * 1.4426950408889634f;  // scores in log2 units: exp2f
    float m[2] = {NEG_INF, NEG_INF};
    float l[2] = {0.0f, 0.0f};
    float o[HEAD_DIM / 8][4];
#pragma unroll
    for (int n = 0; n < HEAD_DIM / 8; n++) {
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    }
    int lo = 0;
#if WINDOW > 0
    lo = max(0, tile.w - WINDOW + 1);
#endif
    lo -= lo % FA_N;
    fa_load(sk, k_cache, table, block_size, kvh, lo, last);
    for (int k0 = lo; k0 <= last; k0 += FA_N) {
        fa_wait();
        __syncthreads();  // K of this step is in; every warp is done with the previous step's V
        fa_load(sv, v_cache, table, block_size, kvh, k0, last);
        bool active = rows && k0 <= wlast;
#if WINDOW > 0
        active = active && k0 + FA_N - 1 >= wfirst - WINDOW + 1;
#endif
        float s[FA_N / 8][4];
#pragma unroll
        for (int n = 0; n < FA_N / 8; n++) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
        }
        if (active) {
#pragma unroll
            for (int kk = 0; kk < HEAD_DIM / 16; kk++) {
#pragma unroll
                for (int n = 0; n < FA_N / 8; n += 2) {
                    // Lanes 0-7: keys of tile n, dims 16kk + 0..7; 8-15: dims + 8; 16-31: the same for tile n + 1.
                    const wt* kr = &sk[(n + (lane >> 4)) * 8 + (lane & 7)][kk * 16 + ((lane >> 3) & 1) * 8];
                    unsigned b0, b1, b2, b3;
                    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                                 : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3) : "r"(tc_smem(kr)));
                    tc_mma(s[n], qf[kk], b0, b1);
                    tc_mma(s[n + 1], qf[kk], b2, b3);
                }
            }
        }
        fa_wait();
        __syncthreads();  // V of this step is in; every warp is done with K
        if (k0 + FA_N <= last) {
            fa_load(sk, k_cache, table, block_size, kvh, k0 + FA_N, last);
        }
        if (!active) {
            continue;
        }
        // Masks only where the tile crosses a bound of one of the warp's rows: keys past its first row's position,
        // or (window) before its last row's window.
        bool edge = k0 + FA_N - 1 > wfirst;
#if WINDOW > 0
        edge |= k0 < wlast - WINDOW + 1;
#endif
        float mx[2] = {NEG_INF, NEG_INF};
#pragma unroll
        for (int n = 0; n < FA_N / 8; n++) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float v = s[n][j] * sl2;
                if (edge) {
                    int key = k0 + n * 8 + 2 * q4 + (j & 1);
                    int p = j < 2 ? pa : pb;
                    bool out_of_range = key > p;
#if WINDOW > 0
                    out_of_range |= key < p - WINDOW + 1;
#endif
                    v = out_of_range ? NEG_INF : v;
                }
                s[n][j] = v;
                mx[j >> 1] = fmaxf(mx[j >> 1], v);
            }
        }
        float corr[2];
        float base[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            float m_new = fmaxf(m[i], mx[i]);
            base[i] = m_new == NEG_INF ? 0.0f : m_new;  // a row with nothing seen yet stays at 0
            corr[i] = exp2f(m[i] - base[i]);
            m[i] = m_new;
            l[i] *= corr[i];
        }
#pragma unroll
        for (int n = 0; n < HEAD_DIM / 8; n++) {
            o[n][0] *= corr[0];
            o[n][1] *= corr[0];
            o[n][2] *= corr[1];
            o[n][3] *= corr[1];
        }
#pragma unroll
        for (int n = 0; n < FA_N / 8; n++) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float e = exp2f(s[n][j] - base[j >> 1]);
                s[n][j] = e;
                l[j >> 1] += e;
            }
        }
        // O += P·V as in attention_tc: S's fragments of keys [16kk, 16kk + 16) are P's A fragment for k-step kk, V's
        // B fragments by ldmatrix.trans.
#pragma unroll
        for (int kk = 0; kk < FA_N / 16; kk++) {
            unsigned a[4] = {fa_pack(s[2 * kk][0], s[2 * kk][1]), fa_pack(s[2 * kk][2], s[2 * kk][3]),
                             fa_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), fa_pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int n = 0; n < HEAD_DIM / 8; n += 2) {
                const wt* row = &sv[kk * 16 + (lane & 15)][(n + (lane >> 4)) * 8];
                unsigned b0, b1, b2, b3;
                asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                             : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3) : "r"(tc_smem(row)));
                tc_mma(o[n], a, b0, b1);
                tc_mma(o[n + 1], a, b2, b3);
            }
        }
    }
    if (!rows) {
        return;
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    }
    float inv_a = 1.0f / l[0];
    float inv_b = 1.0f / l[1];
    wt* oa = out + (long) (tile.y + ra) * Q_DIM + h * HEAD_DIM;
    wt* ob = out + (long) (tile.y + rb) * Q_DIM + h * HEAD_DIM;
#pragma unroll
    for (int n = 0; n < HEAD_DIM / 8; n++) {
        int d = n * 8 + 2 * q4;
        if (ra < tile.z) {
            *(unsigned*) (oa + d) = fa_pack(o[n][0] * inv_a, o[n][1] * inv_a);
        }
        if (rb < tile.z) {
            *(unsigned*) (ob + d) = fa_pack(o[n][2] * inv_b, o[n][3] * inv_b);
        }
    }
}
#endif  // tensor-core attention

// ---- attention_decode / attention_reduce: one query row per sequence, split over long contexts ----
// A row's range [from, pos] (the window's start, or 0) of len positions runs as decode_splits(len, split_keys)
// splits of decode_chunk(len, split_keys) positions (the last one shorter), each a block of its own: grid (rows, N_HEADS,
// S) with S >= every row's splits (blocks past a row's splits return at once). A row of one split
// computes as `attention` does and writes its output; a row of more writes (max, sum, acc[HEAD_DIM]) per
// split to partial[((i * N_HEADS + h) * S + split) * (HEAD_DIM + 2)], and attention_reduce merges them.
// AttentionPlan.java mirrors decode_splits and decode_chunk. split_keys: SPLIT_KEYS for passes of many rows (each
// row's blocks already fill the GPU); small passes split from fewer positions (AttentionPlan.SMALL_SPLIT_KEYS),
// since a single row of a few hundred positions would otherwise run as N_KV_HEADS blocks on a GPU of 100+ SMs.
#define SPLIT_KEYS 256
#define MAX_SPLITS 16

// Positions per split: len over min(MAX_SPLITS, ceil(len / split_keys)) splits, rounded up to the block's
// step (ATT_WARPS * POS_PER_WARP).
__device__ __forceinline__ int decode_chunk(int len, int split_keys) {
    int wanted = min(MAX_SPLITS, (len + split_keys - 1) / split_keys);
    int step = ATT_WARPS * POS_PER_WARP;
    int c = (len + wanted - 1) / wanted;
    return (c + step - 1) / step * step;
}

// Splits of a row of len positions: none of them empty, at most MAX_SPLITS.
__device__ __forceinline__ int decode_splits(int len, int split_keys) {
    int c = decode_chunk(len, split_keys);
    return (len + c - 1) / c;
}

extern "C" __global__ void __launch_bounds__(32 * ATT_WARPS)
attention_decode(const float* __restrict__ qkv, const kv_t* __restrict__ k_cache, const kv_t* __restrict__ v_cache,
                 const int* __restrict__ positions, const int* __restrict__ row_seq, const int* __restrict__ rows,
                 const int* __restrict__ block_tables, const int* __restrict__ table_stride, int block_size,
                 float scale, float* __restrict__ partial, wt* __restrict__ out, int split_keys) {
    __shared__ float s_m[ATT_WARPS * POS_PER_WARP];
    __shared__ float s_l[ATT_WARPS * POS_PER_WARP];
    __shared__ float s_acc[ATT_WARPS * POS_PER_WARP][HEAD_DIM];
    int t = rows[blockIdx.x];
    int h = blockIdx.y;
    int kvh = h / GROUP;
    int pos = positions[t];
    int from = 0;
#if WINDOW > 0
    from = max(0, pos - WINDOW + 1);
#endif
    int len = pos - from + 1;
    int splits = decode_splits(len, split_keys);
    if ((int) blockIdx.z >= splits) {
        return;
    }
    int chunk = decode_chunk(len, split_keys);
    int to = pos;
    if (splits > 1) {
        from += blockIdx.z * chunk;
        to = min(pos, from + chunk - 1);
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int g = lane % LANES;
    int sub = lane / LANES;
    int d0 = g * DPL;

    float q[DPL];
    const float* qrow = qkv + (long) t * QKV_DIM + h * HEAD_DIM;
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        q[j] = d0 + j < HEAD_DIM ? qrow[d0 + j] * scale : 0.0f;
    }
    const int* table = block_tables + (long) row_seq[t] * *table_stride;
    float m = NEG_INF;
    float l = 0.0f;
    float acc[DPL];
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        acc[j] = 0.0f;
    }
    for (int p0 = from; p0 <= to; p0 += ATT_WARPS * POS_PER_WARP) {
        int p = p0 + warp * POS_PER_WARP + sub;
        bool valid = p <= to;
        float kv[DPL];
        float vv[DPL];
        if (valid) {
            long slot = (long) table[p / block_size] * block_size + p % block_size;
            const kv_t* kp = k_cache + slot * KV_DIM + kvh * HEAD_DIM + d0;
            const kv_t* vp = v_cache + slot * KV_DIM + kvh * HEAD_DIM + d0;
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                bool in = d0 + j < HEAD_DIM;
                kv[j] = in ? kv_load(kp + j) : 0.0f;
                vv[j] = in ? kv_load(vp + j) : 0.0f;
            }
        } else {
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                kv[j] = 0.0f;
                vv[j] = 0.0f;
            }
        }
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < DPL; j++) {
            s += q[j] * kv[j];
        }
        for (int o = LANES / 2; o > 0; o >>= 1) {
            s += __shfl_xor_sync(0xffffffffu, s, o);
        }
        if (valid) {
            float m_new = fmaxf(m, s);
            float corr = expf(m - m_new);
            float e = expf(s - m_new);
            l = l * corr + e;
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                acc[j] = acc[j] * corr + e * vv[j];
            }
            m = m_new;
        }
    }
    int slotIdx = warp * POS_PER_WARP + sub;
    if (g == 0) {
        s_m[slotIdx] = m;
        s_l[slotIdx] = l;
    }
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        if (d0 + j < HEAD_DIM) {
            s_acc[slotIdx][d0 + j] = acc[j];
        }
    }
    __syncthreads();
    const int groups = ATT_WARPS * POS_PER_WARP;
    float mx = NEG_INF;
    for (int i = 0; i < groups; i++) {
        mx = fmaxf(mx, s_m[i]);
    }
    float denom = 0.0f;
    for (int i = 0; i < groups; i++) {
        denom += s_m[i] == NEG_INF ? 0.0f : s_l[i] * expf(s_m[i] - mx);
    }
    float* part = partial + (((long) blockIdx.x * N_HEADS + h) * gridDim.z + blockIdx.z) * (HEAD_DIM + 2);
    if (splits > 1 && threadIdx.x == 0) {
        part[0] = mx;
        part[1] = denom;
    }
    for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float num = 0.0f;
        for (int i = 0; i < groups; i++) {
            num += s_m[i] == NEG_INF ? 0.0f : s_acc[i][d] * expf(s_m[i] - mx);
        }
        if (splits > 1) {
            part[2 + d] = num;
        } else {
            out[(long) t * Q_DIM + h * HEAD_DIM + d] = f2wt(num / denom);
        }
    }
}

// ---- attention_decode_gqa: attention_decode with the query heads of a KV head sharing its reads ----
// (The runner launches it with -Dtrtllm.cuda.attention=gqa only, until a GPU run has checked it.)
// The same rows, splits and partial records as attention_decode, but a block takes GQA_HEADS query heads
// of one KV head (all of them up to 4), so that each key and value is read once for them instead of once
// per head: grid (rows, N_HEADS / GQA_HEADS, S). GQA_LANES lanes per position, each holding GQA_DPL
// consecutive dims; per lane group and head an online softmax, merged across the lane groups of a warp by
// shuffles and across warps through shared memory, in a fixed order (batch invariance as
// attention_decode). attention_reduce merges its splits.
#if GROUP % 4 == 0
#define GQA_HEADS 4
#elif GROUP % 2 == 0
#define GQA_HEADS 2
#else
#define GQA_HEADS 1
#endif
#define GQA_LANES (HEAD_DIM >= 128 ? 16 : 8)
#define GQA_DPL ((HEAD_DIM + GQA_LANES - 1) / GQA_LANES)
#define GQA_POS (32 / GQA_LANES)

extern "C" __global__ void __launch_bounds__(32 * ATT_WARPS)
attention_decode_gqa(const float* __restrict__ qkv, const kv_t* __restrict__ k_cache, const kv_t* __restrict__ v_cache,
                     const int* __restrict__ positions, const int* __restrict__ row_seq, const int* __restrict__ rows,
                     const int* __restrict__ block_tables, const int* __restrict__ table_stride, int block_size,
                     float scale, float* __restrict__ partial, wt* __restrict__ out, int split_keys) {
    __shared__ float s_m[ATT_WARPS][GQA_HEADS];
    __shared__ float s_l[ATT_WARPS][GQA_HEADS];
    __shared__ float s_acc[ATT_WARPS][GQA_HEADS][HEAD_DIM];
    int t = rows[blockIdx.x];
    int h0 = blockIdx.y * GQA_HEADS;
    int kvh = h0 / GROUP;
    int pos = positions[t];
    int from = 0;
#if WINDOW > 0
    from = max(0, pos - WINDOW + 1);
#endif
    int len = pos - from + 1;
    int splits = decode_splits(len, split_keys);
    if ((int) blockIdx.z >= splits) {
        return;
    }
    int chunk = decode_chunk(len, split_keys);
    int to = pos;
    if (splits > 1) {
        from += blockIdx.z * chunk;
        to = min(pos, from + chunk - 1);
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int g = lane % GQA_LANES;
    int sub = lane / GQA_LANES;
    int d0 = g * GQA_DPL;

    float q[GQA_HEADS][GQA_DPL];
    float m[GQA_HEADS];
    float l[GQA_HEADS];
    float acc[GQA_HEADS][GQA_DPL];
#pragma unroll
    for (int j = 0; j < GQA_HEADS; j++) {
        const float* qrow = qkv + (long) t * QKV_DIM + (h0 + j) * HEAD_DIM;
#pragma unroll
        for (int i = 0; i < GQA_DPL; i++) {
            q[j][i] = d0 + i < HEAD_DIM ? qrow[d0 + i] * scale : 0.0f;
            acc[j][i] = 0.0f;
        }
        m[j] = NEG_INF;
        l[j] = 0.0f;
    }
    const int* table = block_tables + (long) row_seq[t] * *table_stride;
    for (int p0 = from; p0 <= to; p0 += ATT_WARPS * GQA_POS) {
        int p = p0 + warp * GQA_POS + sub;
        bool valid = p <= to;
        float kv[GQA_DPL];
        float vv[GQA_DPL];
        if (valid) {
            long slot = (long) table[p / block_size] * block_size + p % block_size;
            const kv_t* kp = k_cache + slot * KV_DIM + kvh * HEAD_DIM + d0;
            const kv_t* vp = v_cache + slot * KV_DIM + kvh * HEAD_DIM + d0;
#pragma unroll
            for (int i = 0; i < GQA_DPL; i++) {
                bool in = d0 + i < HEAD_DIM;
                kv[i] = in ? kv_load(kp + i) : 0.0f;
                vv[i] = in ? kv_load(vp + i) : 0.0f;
            }
        } else {
#pragma unroll
            for (int i = 0; i < GQA_DPL; i++) {
                kv[i] = 0.0f;
                vv[i] = 0.0f;
            }
        }
#pragma unroll
        for (int j = 0; j < GQA_HEADS; j++) {
            float s = 0.0f;
#pragma unroll
            for (int i = 0; i < GQA_DPL; i++) {
                s += q[j][i] * kv[i];
            }
            for (int o = GQA_LANES / 2; o > 0; o >>= 1) {
                s += __shfl_xor_sync(0xffffffffu, s, o);
            }
            if (valid) {
                float m_new = fmaxf(m[j], s);
                float corr = expf(m[j] - m_new);
                float e = expf(s - m_new);
                l[j] = l[j] * corr + e;
#pragma unroll
                for (int i = 0; i < GQA_DPL; i++) {
                    acc[j][i] = acc[j][i] * corr + e * vv[i];
                }
                m[j] = m_new;
            }
        }
    }
    // Merge the warp's lane groups (positions sub = 0..GQA_POS-1): pairs by xor, the same sum on both sides.
#pragma unroll
    for (int o = GQA_LANES; o < 32; o <<= 1) {
#pragma unroll
        for (int j = 0; j < GQA_HEADS; j++) {
            float mo = __shfl_xor_sync(0xffffffffu, m[j], o);
            float lo = __shfl_xor_sync(0xffffffffu, l[j], o);
            float mx = fmaxf(m[j], mo);
            float a = m[j] == NEG_INF ? 0.0f : expf(m[j] - mx);
            float b = mo == NEG_INF ? 0.0f : expf(mo - mx);
            l[j] = l[j] * a + lo * b;
#pragma unroll
            for (int i = 0; i < GQA_DPL; i++) {
                float ao = __shfl_xor_sync(0xffffffffu, acc[j][i], o);
                acc[j][i] = acc[j][i] * a + ao * b;
            }
            m[j] = mx;
        }
    }
    if (sub == 0) {
#pragma unroll
        for (int j = 0; j < GQA_HEADS; j++) {
            if (g == 0) {
                s_m[warp][j] = m[j];
                s_l[warp][j] = l[j];
            }
#pragma unroll
            for (int i = 0; i < GQA_DPL; i++) {
                if (d0 + i < HEAD_DIM) {
                    s_acc[warp][j][d0 + i] = acc[j][i];
                }
            }
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < GQA_HEADS * HEAD_DIM; e += blockDim.x) {
        int j = e / HEAD_DIM;
        int d = e % HEAD_DIM;
        float mx = NEG_INF;
        for (int w = 0; w < ATT_WARPS; w++) {
            mx = fmaxf(mx, s_m[w][j]);
        }
        float denom = 0.0f;
        float num = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++) {
            float f = s_m[w][j] == NEG_INF ? 0.0f : expf(s_m[w][j] - mx);
            denom += s_l[w][j] * f;
            num += s_acc[w][j][d] * f;
        }
        int h = h0 + j;
        if (splits > 1) {
            float* part = partial + (((long) blockIdx.x * N_HEADS + h) * gridDim.z + blockIdx.z) * (HEAD_DIM + 2);
            if (d == 0) {
                part[0] = mx;
                part[1] = denom;
            }
            part[2 + d] = num;
        } else {
            out[(long) t * Q_DIM + h * HEAD_DIM + d] = f2wt(num / denom);
        }
    }
}

// The output of every split row of attention_decode: Σ num_s·e^(m_s - M) / Σ sum_s·e^(m_s - M) over its
// splits in order, M the largest m_s. Grid: (rows, N_HEADS) blocks of any threads, `splits` = the
// decode launch's S.
extern "C" __global__ void attention_reduce(const int* __restrict__ positions, const int* __restrict__ rows,
                                            const float* __restrict__ partial, int splits_cap, wt* __restrict__ out,
                                            int split_keys) {
    int t = rows[blockIdx.x];
    int h = blockIdx.y;
    int pos = positions[t];
    int from = 0;
#if WINDOW > 0
    from = max(0, pos - WINDOW + 1);
#endif
    int splits = decode_splits(pos - from + 1, split_keys);
    if (splits == 1) {
        return;
    }
    const float* part = partial + ((long) blockIdx.x * N_HEADS + h) * splits_cap * (HEAD_DIM + 2);
    float mx = NEG_INF;
    for (int s = 0; s < splits; s++) {
        mx = fmaxf(mx, part[s * (HEAD_DIM + 2)]);
    }
    float denom = 0.0f;
    for (int s = 0; s < splits; s++) {
        denom += part[s * (HEAD_DIM + 2) + 1] * expf(part[s * (HEAD_DIM + 2)] - mx);
    }
    for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float num = 0.0f;
        for (int s = 0; s < splits; s++) {
            num += part[s * (HEAD_DIM + 2) + 2 + d] * expf(part[s * (HEAD_DIM + 2)] - mx);
        }
        out[(long) t * Q_DIM + h * HEAD_DIM + d] = f2wt(num / denom);
    }
}

// For StepProfile (-Dtrtllm.cuda.profile=true): keeps the GPU busy for `cycles` clock cycles, so that the
// host enqueues a whole pass before its first kernel starts. Grid: 1 block of 1 thread.
extern "C" __global__ void spin_wait(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) {
    }
}

// Overlapped decode (CudaModelRunner.launch): row r of this pass whose input token is the one the previous pass
// chose takes it from that pass's ids (argmax or draw, still on the device): tokens[r] = prev_ids[from[r]] where
// from[r] >= 0. A previous row that drew no token (-1) gives token 0: that sequence fails on the host when the
// previous pass's ids come back, and this row's result is discarded. Grid: ceil(rows / 256) blocks of 256 threads.
extern "C" __global__ void chain_tokens(int* __restrict__ tokens, const int* __restrict__ from,
                                        const int* __restrict__ prev_ids, int rows, int vocab) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < rows) {
        int f = from[r];
        if (f >= 0) {
            int id = prev_ids[f];
            tokens[r] = id >= 0 && id < vocab ? id : 0;
        }
    }
}

// ---- GEMV: the projections of passes of few rows (decode) ----
//
// out[r][n] = Σ_k in[r][k] · W[n][k] for r < rows (1..GEMV_MAX_ROWS), W wt (bf16 or f16) [out_dim × in_dim]
// row-major, in wt [rows × in_dim], out f32 [rows × out_dim]. At so few rows a GEMM is a stream
// over the weights, which cuBLAS does not read at full bandwidth; this kernel is built for that
// stream: a block takes GEMV_TILE output rows and splits in_dim over its threads, each thread reading
// 16 bytes (8 values) of each of its weight rows per step, two steps at once (2 * GEMV_TILE loads in
// flight), past L1 (weights are read once) while the activations, which every block reads, stay in
// L1. F32 products and sums in each thread, then a warp shuffle and a sum over the block's warps in
// a fixed order: a row's result depends neither on the number of rows nor on the run.
// Modes: GEMV_STORE; GEMV_ACCUMULATE, out += (the residual add, cuBLAS's beta = 1); GEMV_SWIGLU, the
// MLP's fused gate|up projection: W = [gate (out_dim rows) ; up (out_dim rows)] and out wt
// [rows × out_dim] = silu(gate) * up, computed as silu_mul does, so the f32 gate|up rows never reach
// memory (a block then takes GEMV_TILE / 2 gate rows and the matching up rows).
// gemv_R is compiled for R = 1, 2, 4, 8 rows and takes rows <= R (the others read row rows - 1 again
// and store nothing). Needs in_dim % 8 == 0 and W, in 16-byte aligned (Gemv.java falls back to cuBLAS
// otherwise). Grid: ceil(out_dim / GEMV_TILE) blocks (GEMV_SWIGLU: ceil(2 * out_dim / GEMV_TILE)) of
// 32..GEMV_THREADS threads, a multiple of 32.
#define GEMV_MAX_ROWS 8
#define GEMV_TILE 4
#define GEMV_THREADS 256
#define GEMV_STORE 0
#define GEMV_ACCUMULATE 1
#define GEMV_SWIGLU 2

// 16 bytes of weights, not kept in L1 (each is read once per pass).
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
#if __CUDA_ARCH__ >= 700
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
#else
    return __ldg(p);
#endif
}

// The 8 16-bit values (wt: bf16, or f16 with WEIGHT_F16) of a 16-byte vector as floats, in memory order.
__device__ __forceinline__ void unpack8(uint4 v, float (&f)[8]) {
    unsigned u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
#if WEIGHT_F16
        f[2 * i] = wt2f((wt) (u[i] & 0xffffu));
        f[2 * i + 1] = wt2f((wt) (u[i] >> 16));
#else
        f[2 * i] = __uint_as_float(u[i] << 16);
        f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
#endif
    }
}

// acc[r][j] += Σ_e W[row j][8v + e] · in[r][8v + e], the 8 elements of vector v.
template <int R>
__device__ __forceinline__ void gemv_step(float (&acc)[R][GEMV_TILE], const uint4 (&wv)[GEMV_TILE],
                                          const uint4* const (&x)[R], int v) {
    float wf[GEMV_TILE][8];
#pragma unroll
    for (int j = 0; j < GEMV_TILE; j++) {
        unpack8(wv[j], wf[j]);
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        float xf[8];
        unpack8(__ldg(x[r] + v), xf);
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
#pragma unroll
            for (int e = 0; e < 8; e++) {
                acc[r][j] = fmaf(wf[j][e], xf[e], acc[r][j]);
            }
        }
    }
}

template <int R>
__device__ __forceinline__ void gemv(const wt* __restrict__ w, const wt* __restrict__ in, void* __restrict__ out,
                                     int out_dim, int in_dim, int rows, int mode) {
    __shared__ float partial[GEMV_THREADS / 32][R * GEMV_TILE];
    const int vecs = in_dim >> 3;
    const int nt = blockDim.x;
    const bool swiglu = mode == GEMV_SWIGLU;
    const uint4* wrow[GEMV_TILE];
#pragma unroll
    for (int j = 0; j < GEMV_TILE; j++) {
        long n;
        if (swiglu) {  // j < TILE/2: gate rows; the others: the matching up rows
            int i = min((int) blockIdx.x * (GEMV_TILE / 2) + j % (GEMV_TILE / 2), out_dim - 1);
            n = j < GEMV_TILE / 2 ? i : (long) out_dim + i;
        } else {
            n = min((int) blockIdx.x * GEMV_TILE + j, out_dim - 1);  // rows past the end: computed, not stored
        }
        wrow[j] = reinterpret_cast<const uint4*>(w + n * in_dim);
    }
    const uint4* x[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        x[r] = reinterpret_cast<const uint4*>(in) + (long) min(r, rows - 1) * vecs;
    }
    float acc[R][GEMV_TILE];
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            acc[r][j] = 0.0f;
        }
    }
    int v = threadIdx.x;
    for (; v + nt < vecs; v += 2 * nt) {
        uint4 a[GEMV_TILE];
        uint4 b[GEMV_TILE];
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            a[j] = ld_stream(wrow[j] + v);
            b[j] = ld_stream(wrow[j] + v + nt);
        }
        gemv_step<R>(acc, a, x, v);
        gemv_step<R>(acc, b, x, v + nt);
    }
    if (v < vecs) {
        uint4 a[GEMV_TILE];
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            a[j] = ld_stream(wrow[j] + v);
        }
        gemv_step<R>(acc, a, x, v);
    }

    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            float s = warp_sum(acc[r][j]);
            if (lane == 0) {
                partial[warp][r * GEMV_TILE + j] = s;
            }
        }
    }
    __syncthreads();
    int warps = nt >> 5;
    if (swiglu) {
        for (int t = threadIdx.x; t < rows * (GEMV_TILE / 2); t += nt) {
            int r = t / (GEMV_TILE / 2);
            int p = t % (GEMV_TILE / 2);
            float g = 0.0f;
            float u = 0.0f;
            for (int k = 0; k < warps; k++) {
                g += partial[k][r * GEMV_TILE + p];
                u += partial[k][r * GEMV_TILE + GEMV_TILE / 2 + p];
            }
            int i = blockIdx.x * (GEMV_TILE / 2) + p;
            if (i < out_dim) {
                float s = g / (1.0f + expf(-g));
                static_cast<wt*>(out)[(long) r * out_dim + i] = f2wt(s * u);
            }
        }
    } else {
        for (int t = threadIdx.x; t < rows * GEMV_TILE; t += nt) {
            int r = t / GEMV_TILE;
            int j = t % GEMV_TILE;
            float s = 0.0f;
            for (int k = 0; k < warps; k++) {
                s += partial[k][t];
            }
            int n = blockIdx.x * GEMV_TILE + j;
            if (n < out_dim) {
                float* o = static_cast<float*>(out) + (long) r * out_dim + n;
                *o = mode == GEMV_ACCUMULATE ? *o + s : s;
            }
        }
    }
}

#define GEMV_KERNEL(R)                                                                                         \
    extern "C" __global__ void __launch_bounds__(GEMV_THREADS)                                                 \
    gemv_##R(const wt* __restrict__ w, const wt* __restrict__ in, void* __restrict__ out, int out_dim,     \
             int in_dim, int rows, int mode) {                                                                 \
        gemv<R>(w, in, out, out_dim, in_dim, rows, mode);                                                      \
    }
GEMV_KERNEL(1)
GEMV_KERNEL(2)
GEMV_KERNEL(4)
GEMV_KERNEL(8)

// ---- quantized projections (W8A16 / W4A16 / FP8 weights; layout: QuantizedLayout.java) ----
//
// Weights row-major, q int8 [out_dim × in_dim] with an f32 scale per row (w = q · s[n]), or q int4
// [out_dim × in_dim / 2] (byte k of a row holds column 2k in its low nibble and 2k + 1 in its high one,
// two's complement) with an f32 scale per row and group of group_size columns (w = q · s[n][k / group]), or
// FP8 E4M3 codes [out_dim × in_dim] with an f32 scale per row (w = e4m3(q) · s[n]).
//
// qgemv8_R / qgemv4_R / qgemvf8_R: gemv_R's stream (same tiles, modes, two 16-byte loads in flight per output row,
// fixed-order sums) over the quantized weights, dequantized in registers: a 16-byte vector holds 16
// int8 or fp8, or 32 int4 values, against 2 or 4 16-byte vectors of activations. Products q·x are exact
// in f32 (q has at most 8 significant bits, x is bf16 or f16), so a vector's partial sum is the same
// whatever the scale; int4 multiplies each vector's partial sum by its group's scale (group_size % 32 ==
// 0, so a vector lies in one group), int8 and fp8 multiply the row's sum once. Needs in_dim % 32 == 0
// (int4) or % 16 == 0, W and in 16-byte aligned (QuantGemv.java checks, else dequant + cuBLAS).
//
// dequant_i8 / dequant_i4 / dequant_f8: rows [first_row, first_row + rows) of a quantized matrix into a row-major
// wt scratch, wt(q · s), for cuBLAS (prefill, and decode passes of more rows than the GEMV takes).
// Grid: one block per row.

// Dequantizing in registers must cost less than the bytes it saves: a 16-byte weight vector at an H100 SM's share
// of the bandwidth (≈ 14.5 bytes a clock) leaves ≈ 9 clocks for 16 int8 / fp8 or 32 int4 values, so a conversion
// instruction per value (I2F, at 16 a clock per SM on sm_80/90) or a dozen integer steps per FP8 code (e4m3_to_f)
// makes the GEMV compute-bound: it ran at 0.8x BF16 on the H100 for FP8. Integers therefore go through the
// exponent trick (TensorRT-LLM's and llama.cpp's dequantizers do the same in f16): the biased code q + 2^(b-1) ORed
// into the mantissa of 2^23 is the float 2^23 + q + 2^(b-1), exact, and one FADD takes the offset off — a byte
// permute or shift-and-or plus an FADD per value, all full-rate. FP8 uses sm_89's cvt.rn.f16x2.e4m3x2 (two codes
// an instruction, exact: every E4M3 value is an f16) and f16 -> f32 (exact).

// The 8 signed values of one 32-bit word of packed int4 (column order), as floats: nibble ^ 8 = q + 8.
__device__ __forceinline__ void unpack_i4x8(unsigned u, float (&f)[8]) {
    unsigned b = u ^ 0x88888888u;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        f[k] = __uint_as_float(((b >> (4 * k)) & 0xfu) | 0x4b000000u) - 8388616.0f;  // (2^23 + q + 8) - (2^23 + 8)
    }
}


// The 4 FP8 E4M3 values of one 32-bit word (column order), as floats. sm_89+: the low 16 bits (columns 0, 1) and
// the high ones through cvt.rn.f16x2.e4m3x2 (the low byte to the low half), then f16 -> f32; below, e4m3_to_f
// (FP8 engines are refused there, the kernels still compile).
__device__ __forceinline__ void unpack_f8x4(unsigned u, float* f) {
#if __CUDA_ARCH__ >= 890
    asm("{\n\t.reg .b16 c0, c1, h0, h1, h2, h3;\n\t.reg .b32 p0, p1;\n\t"
        "mov.b32 {c0, c1}, %4;\n\t"
        "cvt.rn.f16x2.e4m3x2 p0, c0;\n\t"
        "cvt.rn.f16x2.e4m3x2 p1, c1;\n\t"
        "mov.b32 {h0, h1}, p0;\n\t"
        "mov.b32 {h2, h3}, p1;\n\t"
        "cvt.f32.f16 %0, h0;\n\t"
        "cvt.f32.f16 %1, h1;\n\t"
        "cvt.f32.f16 %2, h2;\n\t"
        "cvt.f32.f16 %3, h3;\n\t}"
        : "=f"(f[0]), "=f"(f[1]), "=f"(f[2]), "=f"(f[3])
        : "r"(u));
#else
#pragma unroll
    for (int k = 0; k < 4; k++) {
        f[k] = e4m3_to_f((u >> (8 * k)) & 0xffu);
    }
#endif
}

// The 4 signed values of one 32-bit word of int8 (column order), as floats: byte ^ 0x80 = q + 128 permuted into
// the low byte of 0x4b000000 (2^23).
__device__ __forceinline__ void unpack_i8x4(unsigned u, float* f) {
    unsigned b = u ^ 0x80808080u;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        f[k] = __uint_as_float(__byte_perm(b, 0x4b000000u, 0x7440u + k)) - 8388736.0f;  // (2^23 + q + 128) - (2^23 + 128)
    }
}

#define Q_I8 0
#define Q_I4 1
#define Q_F8 2

// acc[r][j] += scale[j] · Σ_e q[row j][e] · in[r][e] over the VALS values of weight vector v (16-byte
// vectors: 16 int8 or fp8, or 32 int4 values), in chunks of 8 columns to keep the registers few.
template <int R, int Q>
__device__ __forceinline__ void qgemv_step(float (&acc)[R][GEMV_TILE], const uint4 (&wv)[GEMV_TILE],
                                           const float (&scale)[GEMV_TILE], const uint4* const (&x)[R], int v) {
    constexpr bool INT4 = Q == Q_I4;
    constexpr int CHUNKS = INT4 ? 4 : 2;  // chunks of 8 columns in one 16-byte weight vector
    float part[R][GEMV_TILE];
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            part[r][j] = 0.0f;
        }
    }
#pragma unroll
    for (int c = 0; c < CHUNKS; c++) {
        float wf[GEMV_TILE][8];
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            unsigned words[4] = {wv[j].x, wv[j].y, wv[j].z, wv[j].w};
            if (Q == Q_I4) {
                unpack_i4x8(words[c], wf[j]);
            } else if (Q == Q_F8) {
                unpack_f8x4(words[2 * c], wf[j]);
                unpack_f8x4(words[2 * c + 1], wf[j] + 4);
            } else {
                unpack_i8x4(words[2 * c], wf[j]);
                unpack_i8x4(words[2 * c + 1], wf[j] + 4);
            }
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            float xf[8];
            unpack8(__ldg(x[r] + (long) v * CHUNKS + c), xf);
#pragma unroll
            for (int j = 0; j < GEMV_TILE; j++) {
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    part[r][j] = fmaf(wf[j][e], xf[e], part[r][j]);
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            acc[r][j] = INT4 ? fmaf(scale[j], part[r][j], acc[r][j]) : acc[r][j] + part[r][j];
        }
    }
}

template <int R, int Q>
__device__ __forceinline__ void qgemv(const unsigned char* __restrict__ w, const float* __restrict__ scales,
                                      int group_size, const wt* __restrict__ in, void* __restrict__ out,
                                      int out_dim, int in_dim, int rows, int mode) {
    __shared__ float partial[GEMV_THREADS / 32][R * GEMV_TILE];
    constexpr bool INT4 = Q == Q_I4;
    constexpr int VALS = INT4 ? 32 : 16;
    const int vecs = in_dim / VALS;
    const int groups = INT4 ? in_dim / group_size : 1;
    const int nt = blockDim.x;
    const bool swiglu = mode == GEMV_SWIGLU;
    const uint4* wrow[GEMV_TILE];
    const float* srow[GEMV_TILE];
#pragma unroll
    for (int j = 0; j < GEMV_TILE; j++) {
        long n;
        if (swiglu) {
            int i = min((int) blockIdx.x * (GEMV_TILE / 2) + j % (GEMV_TILE / 2), out_dim - 1);
            n = j < GEMV_TILE / 2 ? i : (long) out_dim + i;
        } else {
            n = min((int) blockIdx.x * GEMV_TILE + j, out_dim - 1);
        }
        wrow[j] = reinterpret_cast<const uint4*>(w + n * (in_dim / (INT4 ? 2 : 1)));
        srow[j] = scales + n * groups;
    }
    const uint4* x[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        x[r] = reinterpret_cast<const uint4*>(in) + (long) min(r, rows - 1) * (in_dim >> 3);
    }
    float acc[R][GEMV_TILE];
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            acc[r][j] = 0.0f;
        }
    }
    const int per_group = INT4 ? group_size / VALS : 1;
    int v = threadIdx.x;
    for (; v + nt < vecs; v += 2 * nt) {
        uint4 a[GEMV_TILE];
        uint4 b[GEMV_TILE];
        float sa[GEMV_TILE];
        float sb[GEMV_TILE];
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            a[j] = ld_stream(wrow[j] + v);
            b[j] = ld_stream(wrow[j] + v + nt);
            sa[j] = INT4 ? __ldg(srow[j] + v / per_group) : 1.0f;
            sb[j] = INT4 ? __ldg(srow[j] + (v + nt) / per_group) : 1.0f;
        }
        qgemv_step<R, Q>(acc, a, sa, x, v);
        qgemv_step<R, Q>(acc, b, sb, x, v + nt);
    }
    if (v < vecs) {
        uint4 a[GEMV_TILE];
        float sa[GEMV_TILE];
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            a[j] = ld_stream(wrow[j] + v);
            sa[j] = INT4 ? __ldg(srow[j] + v / per_group) : 1.0f;
        }
        qgemv_step<R, Q>(acc, a, sa, x, v);
    }

    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_TILE; j++) {
            float s = warp_sum(acc[r][j]);
            if (lane == 0) {
                partial[warp][r * GEMV_TILE + j] = INT4 ? s : s * __ldg(srow[j]);
            }
        }
    }
    __syncthreads();
    int warps = nt >> 5;
    if (swiglu) {
        for (int t = threadIdx.x; t < rows * (GEMV_TILE / 2); t += nt) {
            int r = t / (GEMV_TILE / 2);
            int p = t % (GEMV_TILE / 2);
            float g = 0.0f;
            float u = 0.0f;
            for (int k = 0; k < warps; k++) {
                g += partial[k][r * GEMV_TILE + p];
                u += partial[k][r * GEMV_TILE + GEMV_TILE / 2 + p];
            }
            int i = blockIdx.x * (GEMV_TILE / 2) + p;
            if (i < out_dim) {
                float s = g / (1.0f + expf(-g));
                static_cast<wt*>(out)[(long) r * out_dim + i] = f2wt(s * u);
            }
        }
    } else {
        for (int t = threadIdx.x; t < rows * GEMV_TILE; t += nt) {
            int r = t / GEMV_TILE;
            int j = t % GEMV_TILE;
            float s = 0.0f;
            for (int k = 0; k < warps; k++) {
                s += partial[k][t];
            }
            int n = blockIdx.x * GEMV_TILE + j;
            if (n < out_dim) {
                float* o = static_cast<float*>(out) + (long) r * out_dim + n;
                *o = mode == GEMV_ACCUMULATE ? *o + s : s;
            }
        }
    }
}

#define QGEMV_KERNEL(R)                                                                                        \
    extern "C" __global__ void __launch_bounds__(GEMV_THREADS)                                                 \
    qgemv8_##R(const unsigned char* __restrict__ w, const float* __restrict__ scales, int group_size,        \
               const wt* __restrict__ in, void* __restrict__ out, int out_dim, int in_dim, int rows, int mode) { \
        qgemv<R, Q_I8>(w, scales, group_size, in, out, out_dim, in_dim, rows, mode);                           \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(GEMV_THREADS)                                                 \
    qgemv4_##R(const unsigned char* __restrict__ w, const float* __restrict__ scales, int group_size,        \
               const wt* __restrict__ in, void* __restrict__ out, int out_dim, int in_dim, int rows, int mode) { \
        qgemv<R, Q_I4>(w, scales, group_size, in, out, out_dim, in_dim, rows, mode);                           \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(GEMV_THREADS)                                                 \
    qgemvf8_##R(const unsigned char* __restrict__ w, const float* __restrict__ scales, int group_size,       \
                const wt* __restrict__ in, void* __restrict__ out, int out_dim, int in_dim, int rows, int mode) { \
        qgemv<R, Q_F8>(w, scales, group_size, in, out, out_dim, in_dim, rows, mode);                           \
    }
QGEMV_KERNEL(1)
QGEMV_KERNEL(2)
QGEMV_KERNEL(4)
QGEMV_KERNEL(8)

// ---- qgemv4_mma: INT4 weights through the tensor cores, 1..8 rows (QuantGemv.java picks it) ----
//
// Why: qgemv4_R spends ≈ 4 issue slots a weight value (shift, mask|magic, FADD, FMA) against the ≈ 4.4 a value that
// an H100 SM's share of the bandwidth leaves (142 per 16-byte vector of 32 values): it ran at 1.1-1.9 TB/s, the
// INT4 layer chain only 2.17x BF16. Here the products and sums go to mma.sync m16n8k16 (wt inputs, f32
// accumulation), one instruction for 16 × 16 × 8 of them, and a pair of int4 values becomes a pair of 16-bit
// floats in three instructions: ≈ 1.6 issue slots a value, and 8 activation rows cost what 1 does.
//
// Numbers: q ∈ [-8, 7] and the activations are exact in wt, their products exact in f32; the tensor cores add 16
// of them (and the running sum) in f32 per mma. Scales as in qgemv4_R: a step's 128 columns lie in one group
// (group_size % 128 == 0), its partial sums times the group's scale are added to the thread's total. Not bit-equal
// to qgemv4_R (another order of additions), within the same kind of F32 bound (CudaQuantizedGpuTests). Each of the
// mma's 8 columns (activation rows) is computed on its own, and every row count runs this one kernel, so a row's
// result depends neither on the other rows nor on their number.
//
// Layout: QuantizedLayout's, row-major; the engine is unchanged. A warp computes tile rows j = 0..15 (weight rows
// blockIdx.x · 16 + j; GEMV_SWIGLU: gate rows blockIdx.x · 8 + j for j < 8, the matching up rows for j >= 8, so
// that a thread's accumulators hold a gate and its up row) times the 8 activation rows (rows >= `rows` read row
// rows - 1 and store nothing), over steps of 128 columns, steps spread over the block's warps (s = warp, warp +
// warps, ...), the warps' tiles summed in a fixed order. Thread (g = lane / 4, t = lane % 4) loads per step 16
// bytes of tile rows g and g + 8 (columns 32t .. 32t + 31 of the step, words i = 0..3 of 8 columns each) and the
// 64 bytes of activation row g at the same columns. The mma's 16 k slots are a permutation of columns (any
// permutation gives the same products, as long as A and B agree): in mma 2i + h, thread t's slots 2t, 2t+1 hold
// columns 32t + 8i + 2h + {0, 4}, slots 2t+8, 2t+9 columns 32t + 8i + 2h + {1, 5}. So each A register is the
// nibbles at bits 4k and 4k + 16 of one word (k = 2h or 2h + 1): shift, LOP3 (nibble ^ 8 = q + 8 into the mantissa
// of 128 in bf16, 1024 in f16) and one packed FMA (minus 136, or 1032) give the pair exactly; each B register is
// one byte permute of the activations. Needs in_dim % 128 == 0, group_size % 128 == 0, W and in 16-byte aligned
// (QuantGemv.mmaApplies). Grid: ceil(out_dim / 16) blocks (GEMV_SWIGLU: ceil(out_dim / 8)) of 32 · min(8, in_dim / 128) threads.
#define Q4_STEP 128
#define Q4_WARPS 8
#if WEIGHT_F16
#define Q4_MMA "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"
#define Q4_FMA "fma.rn.f16x2"
#define Q4_MAGIC 0x64086408u  // f16 1024 in both halves, with the nibble's sign bit (8) set to flip it
#define Q4_ONE 0x3c003c00u
#define Q4_BIAS 0xe408e408u   // f16 -1032
#else
#define Q4_MMA "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"
#define Q4_FMA "fma.rn.bf16x2"
#define Q4_MAGIC 0x43084308u  // bf16 128 in both halves, with the nibble's sign bit (8) set to flip it
#define Q4_ONE 0x3f803f80u
#define Q4_BIAS 0xc308c308u   // bf16 -136
#endif

// The int4 values at bits 0-3 and 16-19 of u as two wt (bits 0-3 in the low half): (nibble ^ 8) | 128 - 136.
__device__ __forceinline__ unsigned q4_pair(unsigned u) {
    unsigned v = (u & 0x000f000fu) ^ Q4_MAGIC;
    unsigned r;
    asm(Q4_FMA " %0, %1, %2, %3;" : "=r"(r) : "r"(v), "r"(Q4_ONE), "r"(Q4_BIAS));
    return r;
}

__device__ __forceinline__ void q4_mma(float (&d)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                       unsigned b1) {
#if __CUDA_ARCH__ >= 800
    asm(Q4_MMA " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
    __trap();  // unreachable: the CUDA backend compiles for sm_80 and newer only (KernelSource)
#endif
}

// acc += scale · (the step's 16 × 8 products): lo / hi the 16 bytes of tile rows g / g + 8, xs row g's activations.
__device__ __forceinline__ void q4_step(float (&acc)[4], uint4 lo, uint4 hi, const uint4 (&xs)[4], float s_lo,
                                        float s_hi) {
    const unsigned wl[4] = {lo.x, lo.y, lo.z, lo.w};
    const unsigned wh[4] = {hi.x, hi.y, hi.z, hi.w};
    float p0[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // h = 0 and h = 1 in two chains, added at the end
    float p1[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        q4_mma(p0, q4_pair(wl[i]), q4_pair(wh[i]), q4_pair(wl[i] >> 4), q4_pair(wh[i] >> 4),
               __byte_perm(xs[i].x, xs[i].z, 0x5410), __byte_perm(xs[i].x, xs[i].z, 0x7632));
        q4_mma(p1, q4_pair(wl[i] >> 8), q4_pair(wh[i] >> 8), q4_pair(wl[i] >> 12), q4_pair(wh[i] >> 12),
               __byte_perm(xs[i].y, xs[i].w, 0x5410), __byte_perm(xs[i].y, xs[i].w, 0x7632));
    }
    acc[0] = fmaf(s_lo, p0[0] + p1[0], acc[0]);  // c0, c1: tile row g; c2, c3: tile row g + 8
    acc[1] = fmaf(s_lo, p0[1] + p1[1], acc[1]);
    acc[2] = fmaf(s_hi, p0[2] + p1[2], acc[2]);
    acc[3] = fmaf(s_hi, p0[3] + p1[3], acc[3]);
}

extern "C" __global__ void __launch_bounds__(32 * Q4_WARPS)
qgemv4_mma(const unsigned char* __restrict__ w, const float* __restrict__ scales, int group_size,
           const wt* __restrict__ in, void* __restrict__ out, int out_dim, int in_dim, int rows, int mode) {
    __shared__ float4 red[Q4_WARPS][32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    const int g = lane >> 2;
    const int t = lane & 3;
    const bool swiglu = mode == GEMV_SWIGLU;
    long n_lo;
    long n_hi;
    if (swiglu) {
        int i = min((int) blockIdx.x * 8 + g, out_dim - 1);
        n_lo = i;
        n_hi = (long) out_dim + i;
    } else {
        n_lo = min((int) blockIdx.x * 16 + g, out_dim - 1);  // rows past the end: computed, not stored
        n_hi = min((int) blockIdx.x * 16 + g + 8, out_dim - 1);
    }
    const int groups = in_dim / group_size;
    const int per_group = group_size / Q4_STEP;
    const uint4* w_lo = reinterpret_cast<const uint4*>(w + n_lo * (in_dim >> 1)) + t;  // 4 vectors a step, t's
    const uint4* w_hi = reinterpret_cast<const uint4*>(w + n_hi * (in_dim >> 1)) + t;
    const float* s_lo = scales + n_lo * groups;
    const float* s_hi = scales + n_hi * groups;
    const uint4* x = reinterpret_cast<const uint4*>(in + (long) min(g, rows - 1) * in_dim) + 4 * t;  // 16 a step
    const int steps = in_dim / Q4_STEP;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int s = warp;
    for (; s + warps < steps; s += 2 * warps) {  // two steps' loads in flight
        const int s2 = s + warps;
        uint4 a_lo = ld_stream(w_lo + 4L * s);
        uint4 a_hi = ld_stream(w_hi + 4L * s);
        uint4 b_lo = ld_stream(w_lo + 4L * s2);
        uint4 b_hi = ld_stream(w_hi + 4L * s2);
        uint4 xa[4];
        uint4 xb[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            xa[i] = __ldg(x + 16L * s + i);
            xb[i] = __ldg(x + 16L * s2 + i);
        }
        float sa_lo = __ldg(s_lo + s / per_group);
        float sa_hi = __ldg(s_hi + s / per_group);
        float sb_lo = __ldg(s_lo + s2 / per_group);
        float sb_hi = __ldg(s_hi + s2 / per_group);
        q4_step(acc, a_lo, a_hi, xa, sa_lo, sa_hi);
        q4_step(acc, b_lo, b_hi, xb, sb_lo, sb_hi);
    }
    if (s < steps) {
        uint4 xa[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            xa[i] = __ldg(x + 16L * s + i);
        }
        q4_step(acc, ld_stream(w_lo + 4L * s), ld_stream(w_hi + 4L * s), xa, __ldg(s_lo + s / per_group),
                __ldg(s_hi + s / per_group));
    }
    red[warp][lane] = make_float4(acc[0], acc[1], acc[2], acc[3]);
    __syncthreads();
    if (warp != 0) {
        return;
    }
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < warps; k++) {
        float4 p = red[k][lane];
        c[0] += p.x;
        c[1] += p.y;
        c[2] += p.z;
        c[3] += p.w;
    }
    if (swiglu) {
        int i = blockIdx.x * 8 + g;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = 2 * t + h;  // c[h]: the gate of activation row r, c[2 + h]: its up
            if (i < out_dim && r < rows) {
                float gate = c[h];
                float silu = gate / (1.0f + expf(-gate));
                static_cast<wt*>(out)[(long) r * out_dim + i] = f2wt(silu * c[2 + h]);
            }
        }
    } else {
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int n = blockIdx.x * 16 + g + 8 * half;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int r = 2 * t + h;
                if (n < out_dim && r < rows) {
                    float* o = static_cast<float*>(out) + (long) r * out_dim + n;
                    *o = mode == GEMV_ACCUMULATE ? *o + c[2 * half + h] : c[2 * half + h];
                }
            }
        }
    }
}

extern "C" __global__ void dequant_i8(const signed char* __restrict__ q, const float* __restrict__ scales,
                                      wt* __restrict__ out, long first_row, int cols) {
    long n = first_row + blockIdx.x;
    const signed char* row = q + n * cols;
    float s = scales[n];
    wt* o = out + (long) blockIdx.x * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        o[c] = f2wt((float) row[c] * s);
    }
}

extern "C" __global__ void dequant_f8(const unsigned char* __restrict__ q, const float* __restrict__ scales,
                                      wt* __restrict__ out, long first_row, int cols) {
    long n = first_row + blockIdx.x;
    const unsigned char* row = q + n * cols;
    float s = scales[n];
    wt* o = out + (long) blockIdx.x * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        o[c] = f2wt(e4m3_to_f(row[c]) * s);
    }
}

extern "C" __global__ void dequant_i4(const unsigned char* __restrict__ q, const float* __restrict__ scales,
                                      wt* __restrict__ out, long first_row, int cols, int group_size) {
    long n = first_row + blockIdx.x;
    const unsigned char* row = q + n * (cols / 2);
    const float* s = scales + n * (cols / group_size);
    wt* o = out + (long) blockIdx.x * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        int bits = (row[c >> 1] >> ((c & 1) * 4)) & 0xf;
        o[c] = f2wt((float) (bits >= 8 ? bits - 16 : bits) * s[c / group_size]);
    }
}

// ---- mixgemm: weight-only INT8 / INT4 projections of many rows on the tensor cores (MixedGemm.java) ----
//
// Why: the prefill path above (dequant_i8 / dequant_i4 into a wt scratch, then cuBLAS) reads the quantized bytes,
// writes twice as many 16-bit ones and reads them again in every pass: for Llama-3.1-8B ≈ 40 GB a pass whatever the
// row count. Here the weights go from global memory to shared memory as they are stored (cp.async, MG_STAGES steps
// in flight) and are dequantized in registers right before the mma (TensorRT-LLM's fpA_intB idea; the code is ours).
//
// out[rows × out_dim] (f32) = in[rows × in_dim] (wt) · dequant(W)[out_dim × in_dim]ᵀ, stored or added to out.
// Numbers: every weight is dequantized exactly as dequant_i8 / dequant_i4 write it, wt((float) q · s), so the
// products are the scratch path's; the tensor cores sum them in f32, in another order than cuBLAS: the difference
// is summation order only (bounded in MixedGemmGpuTests). A block owns whole output elements (no split over the
// columns) and runs the k steps in order, so an element's additions do not depend on the tile, the block or the
// number of rows: a row's result is the same alone or in a batch, with either tile (the mma computes each of its 8
// columns on its own; the GPU test checks rows bit for bit across row counts and tiles). Split over the columns:
// passes of few rows have too few tiles to keep enough weight bytes in flight (the bytes in flight are out_dim ·
// (MG_STAGES - 1) · 32 whatever the tile), so up to MixedGemm.SPLIT_MAX_ROWS rows the k steps are split over
// gridDim.z blocks, each storing its sums into a workspace that mixgemm_reduce adds in split order. The split count
// depends on out_dim and in_dim only (MixedGemm.splits), so rows stay the same at any row count up to that limit;
// across it a row's sums are ordered differently (the same F32 bound).
//
// Tiles: the mma's 16 rows are weight rows (output features), its 8 columns activation rows (the weights are the
// row-major A operand as they are stored, the activations the column-major B operand), MG_STAGES - 1 steps' loads in
// flight while one is computed. A block computes 32·WF
// features × 8·NT·WT activation rows, warp (wf, wt) 32 features (2 mma row tiles) × 8·NT rows. A step of MG_BK = 32
// columns: thread (g = lane / 4, t = lane % 4) reads columns 8t .. 8t + 7 of its weight rows g and g + 8 (int8: 8
// bytes, int4: one 32-bit word) and of activation row g of every column tile (16 bytes, one shared load), and runs
// two mmas, j = 0 on columns 8t .. 8t + 3 and j = 1 on 8t + 4 .. 8t + 7: its k slots 2t, 2t + 1 hold columns
// 8t + 4j + {0, 1}, slots 2t + 8, 2t + 9 columns 8t + 4j + {2, 3}, in A and B alike (a permutation of the 16 k
// of each mma; the products are the same). Shared memory rows are 64 bytes (activations), 32 or 16 (weights): the
// loads of a quarter or half warp cover consecutive bytes, no bank conflicts. Rows and features past the end are
// loaded as zeros (cp.async's src-size 0) and not stored. Needs in_dim % 32 == 0, for int4 group_size % 32 == 0 (a
// step has one scale per row), W, in 16-byte aligned (MixedGemm.applies). Grid: (ceil(rows / (8·NT·WT)),
// ceil(out_dim / (32·WF))), 32·WF·WT threads; activation tiles along x, so that the blocks in flight share weights.
#define MG_BK 32

// The shared-memory address of a generic pointer into shared memory.
__device__ __forceinline__ unsigned mg_smem(const void* p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// 16 (or, for the int4 scales, 4) bytes from global to shared memory without passing through registers; zeros when
// !valid (src must still be a mapped address).
__device__ __forceinline__ void mg_cp16(void* dst, const void* src, bool valid) {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(mg_smem(dst)), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
#else
    *(uint4*) dst = valid ? *(const uint4*) src : make_uint4(0, 0, 0, 0);
#endif
}

__device__ __forceinline__ void mg_cp4(void* dst, const void* src, bool valid) {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(mg_smem(dst)), "l"(src), "r"(valid ? 4 : 0)
                 : "memory");
#else
    *(unsigned*) dst = valid ? *(const unsigned*) src : 0u;
#endif
}

__device__ __forceinline__ void mg_commit() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

// Waits until at most N of this thread's committed copy groups are still in flight.
template <int N>
__device__ __forceinline__ void mg_wait() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

// Two floats as a pair of wt (lo in the low half), rounded to nearest even as f2wt does.
__device__ __forceinline__ unsigned mg_pack(float lo, float hi) {
#if __CUDA_ARCH__ >= 800
    unsigned r;
#if WEIGHT_F16
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#else
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#endif
    return r;
#else
    return (unsigned) f2wt(lo) | ((unsigned) f2wt(hi) << 16);
#endif
}

// The 4 signed bytes of u (column order) as floats: the byte ^ 0x80 = q + 128 into the mantissa of 2^23, minus
// 2^23 + 128 (exact).
__device__ __forceinline__ void mg_i8x4(unsigned u, float* f) {
    unsigned b = u ^ 0x80808080u;
    f[0] = __uint_as_float(__byte_perm(b, 0x4b000000u, 0x7440)) - 8388736.0f;
    f[1] = __uint_as_float(__byte_perm(b, 0x4b000000u, 0x7441)) - 8388736.0f;
    f[2] = __uint_as_float(__byte_perm(b, 0x4b000000u, 0x7442)) - 8388736.0f;
    f[3] = __uint_as_float(__byte_perm(b, 0x4b000000u, 0x7443)) - 8388736.0f;
}

template <int Q, int WF, int WT, int NT, int MG_STAGES>
__device__ __forceinline__ void mixgemm(const unsigned char* __restrict__ w, const float* __restrict__ scales,
                                        int group_size, const wt* __restrict__ in, float* __restrict__ out, int out_dim,
                                        int in_dim, int rows, int accumulate, float* __restrict__ partial) {
    constexpr int BF = 32 * WF;           // features (weight rows) of a block
    constexpr int BT = 8 * NT * WT;       // activation rows of a block
    constexpr int THREADS = 32 * WF * WT;
    constexpr int WB = Q == 8 ? 32 : 16;  // bytes of a weight row in one step
    __shared__ __align__(16) unsigned char xs[MG_STAGES][BT * 64];
    __shared__ __align__(16) unsigned char ws[MG_STAGES][BF * WB];
    __shared__ __align__(16) float ss[MG_STAGES][Q == 4 ? BF : 1];  // int4 scales (int8: unused)
    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int wf = warp % WF;
    const int wtk = warp / WF;
    const int g = lane >> 2;
    const int t = lane & 3;
    const long m0 = (long) blockIdx.x * BT;
    const long n0 = (long) blockIdx.y * BF;
    // split over the columns (gridDim.z > 1): this block's steps, its sums to partial[z][rows][out_dim]
    const int first = (int) ((long) blockIdx.z * (in_dim / MG_BK) / gridDim.z);
    const int steps = (int) ((long) (blockIdx.z + 1) * (in_dim / MG_BK) / gridDim.z) - first;
    const long w_row = Q == 8 ? (long) in_dim : (long) in_dim / 2;
    const int groups = in_dim / group_size;
    float s8[2][2];  // int8: the scales of the thread's 4 weight rows
    if (Q == 8) {
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                long n = n0 + wf * 32 + mt * 16 + g + 8 * h;
                s8[mt][h] = n < out_dim ? scales[n] : 0.0f;
            }
        }
    }
    auto load = [&](int stage, int s) {
#pragma unroll
        for (int c = tid; c < BT * 4; c += THREADS) {
            long m = m0 + (c >> 2);
            bool ok = m < rows;
            mg_cp16(&xs[stage][c * 16], in + (ok ? m : 0) * in_dim + (long) s * MG_BK + (c & 3) * 8, ok);
        }
#pragma unroll
        for (int c = tid; c < BF * WB / 16; c += THREADS) {
            long n = n0 + c / (WB / 16);
            bool ok = n < out_dim;
            mg_cp16(&ws[stage][c * 16], w + (ok ? n : 0) * w_row + (long) s * WB + (c % (WB / 16)) * 16, ok);
        }
        if (Q == 4) {
#pragma unroll
            for (int c = tid; c < BF; c += THREADS) {
                long n = n0 + c;
                bool ok = n < out_dim;
                mg_cp4(&ss[stage][c], scales + (ok ? n : 0) * groups + (s * MG_BK) / group_size, ok);
            }
        }
    };
    float acc[2][NT][4];
#pragma unroll
    for (int mt = 0; mt < 2; mt++) {
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                acc[mt][nt][e] = 0.0f;
            }
        }
    }
#pragma unroll
    for (int p = 0; p < MG_STAGES - 1; p++) {
        if (p < steps) {
            load(p, first + p);
        }
        mg_commit();
    }
    for (int s = 0; s < steps; s++) {
        mg_wait<MG_STAGES - 2>();  // step s has landed (this thread's copies) ...
        __syncthreads();           // ... everyone's, and everyone is done with step s - 1's stage
        if (s + MG_STAGES - 1 < steps) {
            load((s + MG_STAGES - 1) % MG_STAGES, first + s + MG_STAGES - 1);
        }
        mg_commit();
        const int stage = s % MG_STAGES;
        unsigned a[2][2][4];  // [row tile][mma j][register]
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
            const int r = wf * 32 + mt * 16 + g;
            float lo[8];
            float hi[8];
            float s_lo;
            float s_hi;
            if (Q == 8) {
                uint2 vl = *reinterpret_cast<const uint2*>(&ws[stage][r * 32 + 8 * t]);
                uint2 vh = *reinterpret_cast<const uint2*>(&ws[stage][(r + 8) * 32 + 8 * t]);
                mg_i8x4(vl.x, lo);
                mg_i8x4(vl.y, lo + 4);
                mg_i8x4(vh.x, hi);
                mg_i8x4(vh.y, hi + 4);
                s_lo = s8[mt][0];
                s_hi = s8[mt][1];
            } else {
                unpack_i4x8(*reinterpret_cast<const unsigned*>(&ws[stage][r * 16 + 4 * t]), lo);
                unpack_i4x8(*reinterpret_cast<const unsigned*>(&ws[stage][(r + 8) * 16 + 4 * t]), hi);
                s_lo = ss[stage][r];
                s_hi = ss[stage][r + 8];
            }
#pragma unroll
            for (int j = 0; j < 2; j++) {
                a[mt][j][0] = mg_pack(lo[4 * j] * s_lo, lo[4 * j + 1] * s_lo);
                a[mt][j][1] = mg_pack(hi[4 * j] * s_hi, hi[4 * j + 1] * s_hi);
                a[mt][j][2] = mg_pack(lo[4 * j + 2] * s_lo, lo[4 * j + 3] * s_lo);
                a[mt][j][3] = mg_pack(hi[4 * j + 2] * s_hi, hi[4 * j + 3] * s_hi);
            }
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            uint4 x = *reinterpret_cast<const uint4*>(&xs[stage][((wtk * NT + nt) * 8 + g) * 64 + 16 * t]);
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                q4_mma(acc[mt][nt], a[mt][0][0], a[mt][0][1], a[mt][0][2], a[mt][0][3], x.x, x.y);
                q4_mma(acc[mt][nt], a[mt][1][0], a[mt][1][1], a[mt][1][2], a[mt][1][3], x.z, x.w);
            }
        }
    }
    mg_wait<0>();
#pragma unroll
    for (int mt = 0; mt < 2; mt++) {
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                long n = n0 + wf * 32 + mt * 16 + g + 8 * (e >> 1);  // c0, c1: row g; c2, c3: row g + 8
                long m = m0 + (wtk * NT + nt) * 8 + 2 * t + (e & 1);  // c0, c2: column 2t; c1, c3: 2t + 1
                if (n < out_dim && m < rows) {
                    if (gridDim.z > 1) {
                        partial[((long) blockIdx.z * rows + m) * out_dim + n] = acc[mt][nt][e];
                    } else {
                        float* o = out + m * out_dim + n;
                        *o = accumulate ? *o + acc[mt][nt][e] : acc[mt][nt][e];
                    }
                }
            }
        }
    }
}

// _l: 128 features × 128 rows, 8 warps (4 × 2, each 32 × 64), 4 stages (48 KiB of shared memory for int8, the static
// limit; one block an SM by its registers); _s: 64 × 64, 4 warps (2 × 2, each 32 × 32), 6 stages (36 KiB, ≈ 4 blocks
// an SM): the more steps in flight, the more weight bytes stream while the tensor cores work.
#define MIXGEMM_KERNEL(NAME, Q, WF, WT, NT, STAGES)                                                                       \
    extern "C" __global__ void __launch_bounds__(32 * WF * WT)                                                     \
    NAME(const unsigned char* __restrict__ w, const float* __restrict__ scales, int group_size,                    \
         const wt* __restrict__ in, float* __restrict__ out, int out_dim, int in_dim, int rows, int accumulate,   \
         float* __restrict__ partial) {                                                                            \
        mixgemm<Q, WF, WT, NT, STAGES>(w, scales, group_size, in, out, out_dim, in_dim, rows, accumulate, partial);       \
    }
MIXGEMM_KERNEL(mixgemm_i8_l, 8, 4, 2, 8, 4)
MIXGEMM_KERNEL(mixgemm_i8_s, 8, 2, 2, 4, 6)
MIXGEMM_KERNEL(mixgemm_i4_l, 4, 4, 2, 8, 4)
MIXGEMM_KERNEL(mixgemm_i4_s, 4, 2, 2, 4, 6)

// The split sums of a mixgemm launch over gridDim.z = splits (count = rows · out_dim each), added in split order,
// then stored or added to out (one addition, as the unsplit kernel's). Grid-stride over count.
extern "C" __global__ void mixgemm_reduce(const float* __restrict__ partial, float* __restrict__ out, long count,
                                          int splits, int accumulate) {
    for (long i = (long) blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (long) gridDim.x * blockDim.x) {
        float v = partial[i];
        for (int z = 1; z < splits; z++) {
            v += partial[z * count + i];
        }
        out[i] = accumulate ? out[i] + v : v;
    }
}

// ---- token sampling on the device (SequenceChunk.LogitsMode.SAMPLE) ----
//
// One token per row drawn from softmax(logits / temperature) after top-k, top-p and min-p, exactly as
// io.trtllm.runtime.TokenSampler (the host's reference) does: the same thresholds, the same integer
// weights w = floor(exp(v - max) * 2^40) (so sums are exact whatever the order of additions), the same
// uniform number (SplitMix64 of the sequence's key and step), so that only a token id goes back to the
// host and a sequence's draws never depend on the batch. Grid: one block of SAMPLE_THREADS per logits
// row; rows whose temperature is 0 (argmax rows, logits rows, graph padding) are left alone.
//
// Passes over the row (read from L2): the maximum; for top-k, a histogram of counts by distance below
// the maximum (1/32-nat buckets) and a radix selection inside the bucket that holds the k-th largest;
// for top-p, the same with weights; then the draw (per-warp sums of the kept weights, a scan, and one
// warp walking its slice). A bucket's tokens are gathered into shared memory when they fit (the usual
// case), else the selection reads them from the row.

struct SampleParams {          // 32 bytes per logits row (CudaModelRunner.writeSampling)
    float temperature;         // > 0: draw this row; 0: leave it
    int top_k;                 // 0 = off
    float top_p;               // 1 = off
    int step;                  // the draw's index in its sequence
    double log_min_p;          // ln(min_p); -inf = off
    unsigned long long key;    // the sequence's random key
};

#define SAMPLE_THREADS 1024
#define SAMPLE_WARPS (SAMPLE_THREADS / 32)
#define BUCKETS 1024
#define BUCKETS_PER_NAT 32.0f
#define GATHER_CAP 4096
#define FIX_ONE 1099511627776.0f   // 2^40
#define NO_LIMIT 0x7fffffff

typedef unsigned long long u64;

__device__ __forceinline__ u64 mix64(u64 z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// The (step + 1)-th nextDouble() of java.util.SplittableRandom(key): TokenSampling.uniform.
__device__ __forceinline__ double uniform01(u64 key, int step) {
    u64 z = mix64(key + (u64) (step + 1) * 0x9e3779b97f4a7c15ull);
    return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

// Unsigned order = float order (-0 counts as +0); and back.
__device__ __forceinline__ unsigned ordered_key(float v) {
    unsigned u = __float_as_uint(v + 0.0f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(unsigned k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

__device__ __forceinline__ int bucket_of(float v, float m) {
    float d = (m - v) * BUCKETS_PER_NAT;
    return d < (float) (BUCKETS - 1) ? (int) d : BUCKETS - 1;  // NaN: the last
}

__device__ __forceinline__ u64 weight_of(float v, float m) {
    float w = expf(v - m) * FIX_ONE;
    return w > 0.0f ? (u64) w : 0ull;  // NaN weighs nothing
}

__device__ __forceinline__ u64 warp_sum_u64(u64 v) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

__device__ __forceinline__ u64 warp_inclusive_scan_u64(u64 v) {
    int lane = threadIdx.x & 31;
    for (int o = 1; o < 32; o <<= 1) {
        u64 n = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) {
            v += n;
        }
    }
    return v;
}

__device__ float block_max(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    if (lane == 0) {
        partial[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        float m = lane < (blockDim.x >> 5) ? partial[lane] : NEG_INF;
        for (int o = 16; o > 0; o >>= 1) {
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        }
        if (lane == 0) {
            total = m;
        }
    }
    __syncthreads();
    float r = total;
    __syncthreads();
    return r;
}

// Over BUCKETS counters (one per thread: blockDim.x == BUCKETS), the first bucket at which the running
// sum reaches target; *before = the sum of the buckets before it. With a total below target: the last
// bucket, and *before = the sum of all others.
__device__ int find_crossing(const u64* __restrict__ hist, u64 target, u64* before) {
    __shared__ u64 warp_total[SAMPLE_WARPS];
    __shared__ int s_bucket;
    __shared__ u64 s_before;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    u64 own = hist[threadIdx.x];
    u64 inclusive = warp_inclusive_scan_u64(own);
    if (lane == 31) {
        warp_total[warp] = inclusive;
    }
    if (threadIdx.x == 0) {
        s_bucket = BUCKETS - 1;
    }
    __syncthreads();
    if (warp == 0) {
        u64 t = warp_inclusive_scan_u64(warp_total[lane]);
        warp_total[lane] = t - warp_total[lane];  // exclusive
    }
    __syncthreads();
    inclusive += warp_total[warp];
    u64 exclusive = inclusive - own;
    if (exclusive < target && inclusive >= target) {  // exactly one thread, if any
        s_bucket = threadIdx.x;
        s_before = exclusive;
    }
    if (threadIdx.x == BUCKETS - 1 && inclusive < target) {
        s_before = exclusive;
    }
    __syncthreads();
    int b = s_bucket;
    *before = s_before;
    __syncthreads();
    return b;
}

// The digit (0..255) at which the weight of digits from 255 down reaches *need, and *need minus the
// weight of the digits above it; warp 0 of the block. hist holds 256 counters.
__device__ void pick_digit(const u64* __restrict__ hist, u64* need, unsigned* digit, u64* group) {
    int lane = threadIdx.x & 31;
    // lane l holds digits 8l .. 8l + 7; the walk runs from lane 31 down.
    u64 sum = 0;
    for (int j = 0; j < 8; j++) {
        sum += hist[lane * 8 + j];
    }
    // weight of the lanes above: an inclusive scan over reversed lanes, minus our own
    u64 rev = __shfl_sync(0xffffffffu, sum, 31 - lane);
    u64 scanned = warp_inclusive_scan_u64(rev);
    u64 above = __shfl_sync(0xffffffffu, scanned, 31 - lane) - sum;
    u64 n = *need;
    bool mine = above < n && above + sum >= n;
    unsigned ballot = __ballot_sync(0xffffffffu, mine);
    int owner = ballot ? 31 - __clz(ballot) : 0;  // the one lane (the highest, should rounding ever allow two)
    if (lane == owner) {
        u64 rest = ballot ? n - above : n;
        int d = lane * 8 + 7;
        for (; d > lane * 8; d--) {
            if (hist[d] >= rest) {
                break;
            }
            rest -= hist[d];
        }
        *digit = (unsigned) d;
        *need = rest;
        *group = hist[d];
    }
}

// MSB-first radix selection, 8 bits a pass, over the (key, weight) pairs that visit(emit) emits
// (called by every thread; each emits its share): the largest key K such that the candidates with
// key >= K weigh at least need. Returns K; *rest = need minus the weight of candidates with key > K
// (what K's own group supplies), *group = the weight of the candidates with key == K.
// Shared memory of radix_select and gather (passed in: a template's own __shared__ arrays would be
// allocated once per instantiation).
struct SelectScratch {
    u64 hist[256];
    u64 need;
    u64 group;
    unsigned digit;
    int count;
};

template <class Visit>
__device__ unsigned radix_select(Visit visit, u64 need, u64* rest, u64* group, SelectScratch* sc) {
    u64* hist = sc->hist;
    u64& s_need = sc->need;
    u64& s_group = sc->group;
    unsigned& s_digit = sc->digit;
    unsigned prefix = 0;
    unsigned mask = 0;
    if (threadIdx.x == 0) {
        s_need = need;
    }
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = threadIdx.x; i < 256; i += blockDim.x) {
            hist[i] = 0;
        }
        __syncthreads();
        visit([&](unsigned key, u64 w) {
            if ((key & mask) == prefix && w != 0) {
                atomicAdd(&hist[(key >> shift) & 255u], w);
            }
        });
        __syncthreads();
        if (threadIdx.x < 32) {
            pick_digit(hist, &s_need, &s_digit, &s_group);
        }
        __syncthreads();
        prefix |= s_digit << shift;
        mask |= 255u << shift;
    }
    *rest = s_need;
    *group = s_group;
    __syncthreads();
    return prefix;
}

// Copies the row's tokens that pass pred(v, i) into cand_v / cand_id (v = logit / temperature); returns
// how many passed (beyond GATHER_CAP only the count is right). Every thread of the block calls it.
template <class Pred>
__device__ int gather(const float* __restrict__ row, int vocab, float temperature, Pred pred,
                      float* cand_v, int* cand_id, SelectScratch* sc) {
    int& s_count = sc->count;
    if (threadIdx.x == 0) {
        s_count = 0;
    }
    __syncthreads();
    int lane = threadIdx.x & 31;
    for (int base = 0; base < vocab; base += blockDim.x) {
        int i = base + threadIdx.x;
        float v = 0.0f;
        bool take = false;
        if (i < vocab) {
            v = row[i] / temperature + 0.0f;
            take = pred(v, i);
        }
        unsigned ballot = __ballot_sync(0xffffffffu, take);
        int first = 0;
        if (lane == 0 && ballot != 0) {
            first = atomicAdd(&s_count, __popc(ballot));
        }
        first = __shfl_sync(0xffffffffu, first, 0);
        if (take) {
            int slot = first + __popc(ballot & ((1u << lane) - 1u));
            if (slot < GATHER_CAP) {
                cand_v[slot] = v;
                cand_id[slot] = i;
            }
        }
    }
    __syncthreads();
    int n = s_count;
    __syncthreads();
    return n;
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
sample_rows(const float* __restrict__ logits, int vocab, const SampleParams* __restrict__ params, int* __restrict__ ids) {
    __shared__ u64 hist[BUCKETS];
    __shared__ float cand_v[GATHER_CAP];
    __shared__ int cand_id[GATHER_CAP];
    __shared__ u64 warp_weight[SAMPLE_WARPS];
    __shared__ int s_warp;
    __shared__ u64 s_r;
    __shared__ int s_token;
    __shared__ SelectScratch sc;

    const SampleParams p = params[blockIdx.x];
    if (!(p.temperature > 0.0f)) {
        return;
    }
    const float* row = logits + (long) blockIdx.x * vocab;
    const float t = p.temperature;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;

    float m = NEG_INF;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        m = fmaxf(m, row[i] / t + 0.0f);
    }
    m = block_max(m);

    // top-k: keep v >= tk, the k-th largest
    float tk = NEG_INF;
    if (p.top_k > 0 && p.top_k < vocab) {
        for (int i = threadIdx.x; i < BUCKETS; i += blockDim.x) {
            hist[i] = 0;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            int b = bucket_of(row[i] / t + 0.0f, m);
            if (b < BUCKETS - 1) {  // the last bucket's count is what the others leave
                atomicAdd(&hist[b], 1ull);
            }
        }
        __syncthreads();
        u64 before;
        int kb = find_crossing(hist, (u64) p.top_k, &before);
        u64 need = (u64) p.top_k - before;
        int n = gather(row, vocab, t, [&](float v, int i) { return bucket_of(v, m) == kb; }, cand_v, cand_id, &sc);
        u64 rest;
        u64 group;
        unsigned key;
        if (n <= GATHER_CAP) {
            key = radix_select([&](auto emit) {
                for (int j = threadIdx.x; j < n; j += blockDim.x) {
                    emit(ordered_key(cand_v[j]), 1ull);
                }
            }, need, &rest, &group, &sc);
        } else {
            key = radix_select([&](auto emit) {
                for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
                    float v = row[i] / t + 0.0f;
                    if (bucket_of(v, m) == kb) {
                        emit(ordered_key(v), 1ull);
                    }
                }
            }, need, &rest, &group, &sc);
        }
        tk = key_value(key);
    }

    // top-p: keep v > tp, and v == tp up to id tie_limit
    bool use_p = p.top_p < 1.0f;
    float tp = NEG_INF;
    int tie_limit = NO_LIMIT;
    if (use_p) {
        for (int i = threadIdx.x; i < BUCKETS; i += blockDim.x) {
            hist[i] = 0;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            float v = row[i] / t + 0.0f;
            if (v >= tk) {
                u64 w = weight_of(v, m);
                if (w != 0) {
                    atomicAdd(&hist[bucket_of(v, m)], w);
                }
            }
        }
        __syncthreads();
        u64 total;
        find_crossing(hist, ~0ull, &total);  // nothing reaches 2^64 - 1: the sum of all buckets but the last
        total += hist[BUCKETS - 1];
        if (total == 0) {
            use_p = false;
        } else {
            double target_d = ceil((double) p.top_p * (double) total);
            u64 target = (u64) target_d;
            if (target > total) {
                target = total;
            }
            u64 before;
            int pb = find_crossing(hist, target, &before);
            u64 need = target - before;
            auto in_bucket = [&](float v, int i) { return v >= tk && bucket_of(v, m) == pb && weight_of(v, m) != 0; };
            int n = gather(row, vocab, t, in_bucket, cand_v, cand_id, &sc);
            u64 rest;
            u64 group;
            unsigned key;
            if (n <= GATHER_CAP) {
                key = radix_select([&](auto emit) {
                    for (int j = threadIdx.x; j < n; j += blockDim.x) {
                        emit(ordered_key(cand_v[j]), weight_of(cand_v[j], m));
                    }
                }, need, &rest, &group, &sc);
            } else {
                key = radix_select([&](auto emit) {
                    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
                        float v = row[i] / t + 0.0f;
                        if (in_bucket(v, i)) {
                            emit(ordered_key(v), weight_of(v, m));
                        }
                    }
                }, need, &rest, &group, &sc);
            }
            tp = key_value(key);
            u64 wt = weight_of(tp, m);
            u64 ties = group / wt;
            u64 keep = (rest + wt - 1) / wt;  // the ties, lowest ids first, that top-p still needs
            if (keep < ties) {
                // the keep-th lowest id among v == tp: a selection on ~id (descending = id ascending)
                unsigned idkey;
                if (n <= GATHER_CAP) {
                    idkey = radix_select([&](auto emit) {
                        for (int j = threadIdx.x; j < n; j += blockDim.x) {
                            if (cand_v[j] == tp) {
                                emit(~(unsigned) cand_id[j], 1ull);
                            }
                        }
                    }, keep, &rest, &group, &sc);
                } else {
                    idkey = radix_select([&](auto emit) {
                        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
                            if (row[i] / t + 0.0f == tp) {
                                emit(~(unsigned) i, 1ull);
                            }
                        }
                    }, keep, &rest, &group, &sc);
                }
                tie_limit = (int) ~idkey;
            }
        }
    }

    // the draw: per-warp slices of the row in id order, their kept weights, a scan, one warp's walk
    const double log_min_p = p.log_min_p;
    auto kept_weight = [&](int i) -> u64 {
        float v = row[i] / t + 0.0f;
        if (v < tk) {
            return 0ull;
        }
        if (use_p && (v < tp || (v == tp && i > tie_limit))) {
            return 0ull;
        }
        if ((double) v - (double) m < log_min_p) {
            return 0ull;
        }
        return weight_of(v, m);
    };
    int slice = (vocab + SAMPLE_WARPS - 1) / SAMPLE_WARPS;
    slice = (slice + 31) & ~31;
    int lo = warp * slice;
    int hi = min(vocab, lo + slice);
    u64 sum = 0;
    for (int i = lo + lane; i < hi; i += 32) {
        sum += kept_weight(i);
    }
    sum = warp_sum_u64(sum);
    if (lane == 0) {
        warp_weight[warp] = sum;
    }
    __syncthreads();
    if (warp == 0) {
        u64 own = warp_weight[lane];
        u64 inclusive = warp_inclusive_scan_u64(own);
        u64 total = __shfl_sync(0xffffffffu, inclusive, 31);
        u64 r = 0;
        if (total != 0) {
            r = (u64) (uniform01(p.key, p.step) * (double) total);
            if (r >= total) {
                r = total - 1;
            }
        }
        u64 exclusive = inclusive - own;
        bool mine = total != 0 && exclusive <= r && r < inclusive;
        if (lane == 0) {
            s_warp = -1;
        }
        __syncwarp();
        if (mine) {
            s_warp = lane;
            s_r = r - exclusive;
        }
    }
    if (threadIdx.x == 0) {
        s_token = -1;
    }
    __syncthreads();
    if (warp == s_warp) {
        u64 r = s_r;
        u64 done = 0;
        for (int base = lo; base < hi; base += 32) {
            int i = base + lane;
            u64 w = i < hi ? kept_weight(i) : 0ull;
            u64 cumulative = done + warp_inclusive_scan_u64(w);
            unsigned ballot = __ballot_sync(0xffffffffu, cumulative > r);
            if (ballot != 0) {
                if (lane == __ffs(ballot) - 1) {
                    s_token = i;
                }
                break;
            }
            done = __shfl_sync(0xffffffffu, cumulative, 31);
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        ids[blockIdx.x] = s_token;
    }
}

// For the GPU tests' pass hook (FaultOnToken, installed through CudaModelRunner.installPassHook): a
// write to an address that is never mapped, so that the context fails with an illegal memory access,
// a sticky error. Production passes never launch it.
extern "C" __global__ void fault(int* p) {
    *(volatile int*) p = 1;
}

// ---- FP8 W8A8: activations quantized per token for cuBLASLt's E4M3 GEMMs (Fp8Gemm.java) ----
//
// (e4m3_to_f and f_to_e4m3 are defined at the top, beside the other conversions.)
// A GEMM input row v becomes E4M3 codes q = e4m3(v · (448 / amax)) and one F32 scale s = amax / 448
// (amax = max |v| of the row; an all-zero row gets s = 1), so that v ≈ q · s with 3 mantissa bits and no row
// overflowing. The scales go to cuBLASLt beside the weights' per-channel ones (outer-vector scaling) or to
// f8_epilogue. Rounding: nearest, ties to even, saturating at ±448 (io.trtllm.model.Fp8.encode; the
// quantization is Fp8.quantizeRow). Grid of every kernel: one block per row.

#define FP8_MAX 448.0f

// (block_max, above with the sampling kernels: the max over the block, every thread gets it.)

// The row's multiplier 448 / amax (1 for an all-zero row), its scale written to scales[r] by thread 0.
__device__ __forceinline__ float f8_row_scale(float amax, float* __restrict__ scales, int r) {
    float s = amax > 0.0f ? amax / FP8_MAX : 1.0f;
    if (threadIdx.x == 0) {
        scales[r] = s;
    }
    return amax > 0.0f ? FP8_MAX / amax : 1.0f;
}

// Blocks of these kernels: F8_THREADS threads (the launches' 256). Each thread keeps its F8_PER(n) values of the row
// in registers between the amax and the quantizing pass, so that a row is read from memory once: at 8,192 rows of
// Llama-3.1-8B the second read of gate|up (2 × 14,336 f32 a row, far beyond L2) was ≈ 0.9 GB a layer. Each thread
// walks i = threadIdx.x + j · F8_THREADS, the order the strided loops had, so the sums and codes are unchanged.
#define F8_THREADS 256
#define F8_PER(n) (((n) + F8_THREADS - 1) / F8_THREADS)

// rmsnorm's row (weight · x / rms, f32, not rounded to wt) quantized: q[r] (DIM codes), scales[r].
extern "C" __global__ void __launch_bounds__(F8_THREADS) rmsnorm_f8(const float* __restrict__ x,
                                                                    const float* __restrict__ weight,
                                                                    unsigned char* __restrict__ q,
                                                                    float* __restrict__ scales) {
    int r = blockIdx.x;
    const float* in = x + (long) r * DIM;
    float v[F8_PER(DIM)];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < F8_PER(DIM); j++) {
        int i = threadIdx.x + j * F8_THREADS;
        v[j] = i < DIM ? in[i] : 0.0f;
        ss += v[j] * v[j];
    }
    ss = block_sum(ss);
    float inv = rsqrtf(ss / DIM + EPS);
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < F8_PER(DIM); j++) {
        int i = threadIdx.x + j * F8_THREADS;
        if (i < DIM) {
            v[j] = weight[i] * (v[j] * inv);
            amax = fmaxf(amax, fabsf(v[j]));
        }
    }
    float mul = f8_row_scale(block_max(amax), scales, r);
#pragma unroll
    for (int j = 0; j < F8_PER(DIM); j++) {
        int i = threadIdx.x + j * F8_THREADS;
        if (i < DIM) {
            q[(long) r * DIM + i] = (unsigned char) f_to_e4m3(v[j] * mul);
        }
    }
}

// silu(gate) · up of row r quantized: q[r] (INTER codes), scales[r]. gate_up[r] = [gate (INTER) | up (INTER)] in
// f32; a_scales null: the values as they are; else the raw product of an FP8 GEMM with unit scales, each value
// scaled here as f8_epilogue would have: raw · a_scales[r] · w_scales[c] (the same f32 products, so the codes equal
// those of f8_epilogue followed by this kernel, without writing and reading gate|up once more).
// (a_scales and scales may be one buffer: the runner's per-token scales, read before the block's barrier, rewritten
// after it, row r by block r only.)
__device__ __forceinline__ void silu_mul_f8_row(const float* __restrict__ gate_up, const float* a_scales,
                                                const float* __restrict__ w_scales, unsigned char* __restrict__ q,
                                                float* scales) {
    int r = blockIdx.x;
    const float* row = gate_up + (long) r * 2 * INTER;
    float sa = a_scales != nullptr ? a_scales[r] : 1.0f;
    float h[F8_PER(INTER)];
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < F8_PER(INTER); j++) {
        int i = threadIdx.x + j * F8_THREADS;
        h[j] = 0.0f;
        if (i < INTER) {
            float g = row[i];
            float u = row[INTER + i];
            if (a_scales != nullptr) {
                g = g * sa * w_scales[i];
                u = u * sa * w_scales[INTER + i];
            }
            h[j] = g / (1.0f + expf(-g)) * u;
            amax = fmaxf(amax, fabsf(h[j]));
        }
    }
    float mul = f8_row_scale(block_max(amax), scales, r);
#pragma unroll
    for (int j = 0; j < F8_PER(INTER); j++) {
        int i = threadIdx.x + j * F8_THREADS;
        if (i < INTER) {
            q[(long) r * INTER + i] = (unsigned char) f_to_e4m3(h[j] * mul);
        }
    }
}

extern "C" __global__ void __launch_bounds__(F8_THREADS) silu_mul_f8(const float* __restrict__ gate_up,
                                                                     unsigned char* __restrict__ q,
                                                                     float* __restrict__ scales) {
    silu_mul_f8_row(gate_up, nullptr, nullptr, q, scales);
}

// silu_mul_f8 of an FP8 GEMM's raw (unit-scale) gate|up output, the scales applied on the way (see above).
extern "C" __global__ void __launch_bounds__(F8_THREADS) silu_mul_f8_raw(const float* __restrict__ raw,
                                                                         const float* a_scales,
                                                                         const float* __restrict__ w_scales,
                                                                         unsigned char* __restrict__ q,
                                                                         float* scales) {
    silu_mul_f8_row(raw, a_scales, w_scales, q, scales);
}

// Rows of cols wt values (the attention output, the o-projection's input) quantized: q[r] (cols codes), scales[r].
extern "C" __global__ void quant_f8(const wt* __restrict__ in, int cols, unsigned char* __restrict__ q,
                                    float* __restrict__ scales) {
    int r = blockIdx.x;
    const wt* row = in + (long) r * cols;
    float amax = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        amax = fmaxf(amax, fabsf(wt2f(row[i])));
    }
    float mul = f8_row_scale(block_max(amax), scales, r);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        q[(long) r * cols + i] = (unsigned char) f_to_e4m3(wt2f(row[i]) * mul);
    }
}

// Where cuBLASLt takes no outer-vector scales: out[r][c] (+)= raw[r][c] · a_scales[r] · w_scales[c], the raw
// E4M3 product (f32, unit scales) of rows × cols; raw may be out when not accumulating.
extern "C" __global__ void f8_epilogue(const float* raw, const float* __restrict__ a_scales,
                                       const float* __restrict__ w_scales, float* out, int cols, int accumulate) {
    int r = blockIdx.x;
    float sa = a_scales[r];
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        long i = (long) r * cols + c;
        float v = raw[i] * sa * w_scales[c];
        out[i] = accumulate ? out[i] + v : v;
    }
}
