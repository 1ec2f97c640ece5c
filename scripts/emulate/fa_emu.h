// Host emulation of the CUDA built-ins attention_fa uses (scripts/emulate/attention-fa.py): each GPU thread is a
// std::thread, warps exchange through shared slots behind a barrier (mma.sync, ldmatrix, shfl), __syncthreads is a
// barrier of the block, cp.async copies are deferred to cp.async.wait_group (EMU_EAGER=1: done at issue), so that a
// read before the wait, or a copy issued before the other warps are done with its buffer, shows in the results.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <vector>
using std::max;
using std::min;

struct dim3e { unsigned x = 0, y = 0, z = 0; };
inline thread_local dim3e threadIdx, blockIdx, gridDim;
struct uint4 { unsigned x, y, z, w; };
struct int4 { int x, y, z, w; };
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict

constexpr int EMU_MAX_THREADS = 256;
struct EmuWarp {
    unsigned u[32][8];
    float f[32][4];
    const void* p[32];
};
inline EmuWarp emu_warps[EMU_MAX_THREADS / 32];
inline std::barrier<>* emu_warp_bar[EMU_MAX_THREADS / 32];
inline std::barrier<>* emu_block_bar;
inline bool emu_eager = false;

inline void __syncthreads() { emu_block_bar->arrive_and_wait(); }
inline int emu_lane() { return threadIdx.x & 31; }
inline EmuWarp& emu_warp() { return emu_warps[threadIdx.x >> 5]; }
inline void emu_wsync() { emu_warp_bar[threadIdx.x >> 5]->arrive_and_wait(); }

inline float __shfl_xor_sync(unsigned, float v, int o) {
    EmuWarp& w = emu_warp();
    int l = emu_lane();
    w.f[l][0] = v;
    emu_wsync();
    float r = w.f[l ^ o][0];
    emu_wsync();
    return r;
}

inline float emu_bf(unsigned short h) { return __uint_as_float(((unsigned) h) << 16); }
inline unsigned short emu_tobf(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;  // cvt's canonical NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short) (u >> 16);
}
inline unsigned emu_pack_bf16(float hi, float lo) { return (unsigned) emu_tobf(lo) | ((unsigned) emu_tobf(hi) << 16); }
inline float emu_half(unsigned r, int hi) { return emu_bf((unsigned short) (hi ? r >> 16 : r & 0xffffu)); }

// d (16x8 f32, rows g / g + 8, cols 2q4, 2q4 + 1) += A (16x16 bf16, row) · B (16x8 bf16, col), PTX's fragment layouts.
inline void emu_mma(float* d, const unsigned* a, unsigned b0, unsigned b1) {
    EmuWarp& w = emu_warp();
    int l = emu_lane();
    for (int i = 0; i < 4; i++) w.u[l][i] = a[i];
    w.u[l][4] = b0;
    w.u[l][5] = b1;
    emu_wsync();
    int g = l >> 2, q4 = l & 3;
    for (int j = 0; j < 4; j++) {
        int row = g + (j >= 2 ? 8 : 0);
        int col = 2 * q4 + (j & 1);
        float acc = 0.0f;
        for (int k = 0; k < 16; k++) {
            int al = (row % 8) * 4 + (k % 8) / 2;
            int areg = (k < 8 ? 0 : 2) + (row >= 8 ? 1 : 0);
            float av = emu_half(w.u[al][areg], k & 1);
            int bl = col * 4 + (k % 8) / 2;
            float bv = emu_half(w.u[bl][k < 8 ? 4 : 5], k & 1);
            acc += av * bv;
        }
        d[j] += acc;
    }
    emu_wsync();
}

// ldmatrix .x4 (.trans): lanes 8i..8i+7 give the row addresses of matrix i; lane t gets, of each matrix, row t/4
// cols 2(t%4), +1 (trans: col t/4 of rows 2(t%4), +1).
inline void emu_ldmatrix(bool trans, const void* row, unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3) {
    EmuWarp& w = emu_warp();
    int l = emu_lane();
    w.p[l] = row;
    emu_wsync();
    unsigned r[4];
    for (int i = 0; i < 4; i++) {
        unsigned short lo, hi;
        if (!trans) {
            const unsigned short* m = (const unsigned short*) w.p[8 * i + l / 4];
            lo = m[2 * (l % 4)];
            hi = m[2 * (l % 4) + 1];
        } else {
            lo = ((const unsigned short*) w.p[8 * i + 2 * (l % 4)])[l / 4];
            hi = ((const unsigned short*) w.p[8 * i + 2 * (l % 4) + 1])[l / 4];
        }
        r[i] = (unsigned) lo | ((unsigned) hi << 16);
    }
    r0 = r[0]; r1 = r[1]; r2 = r[2]; r3 = r[3];
    emu_wsync();
}

struct EmuCopy { void* dst; const void* src; };
inline thread_local std::vector<EmuCopy> emu_pending;
inline void emu_cp_async(void* dst, const void* src) {
    if (emu_eager) std::memcpy(dst, src, 16);
    else emu_pending.push_back({dst, src});
}
inline void emu_wait() {
    for (auto& c : emu_pending) std::memcpy(c.dst, c.src, 16);
    emu_pending.clear();
}
