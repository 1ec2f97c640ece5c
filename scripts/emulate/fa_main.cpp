// Driver of the attention_fa emulation (scripts/emulate/attention-fa.py writes fa_kernel.inc from kernels.cu).
#include "fa_emu.h"
#include <cstdio>
#include <random>
#include <thread>

typedef unsigned short bf16;
typedef bf16 wt;
typedef bf16 kv_t;
#define NEG_INF __int_as_float(0xff800000)
#define Q_DIM (N_HEADS * HEAD_DIM)
#define KV_DIM (N_KV_HEADS * HEAD_DIM)
#define QKV_DIM (Q_DIM + 2 * KV_DIM)
#define GROUP (N_HEADS / N_KV_HEADS)
#define KV_BF16 1
#define WEIGHT_F16 0
#define KV_F16 0
inline float bf2f(bf16 h) { return emu_bf(h); }
inline bf16 f2bf(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16) ((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16) (u >> 16);
}
inline float wt2f(wt w) { return bf2f(w); }
inline wt f2wt(float f) { return f2bf(f); }
inline float kv_load(const kv_t* p) { return bf2f(*p); }

#include "fa_kernel.inc"

constexpr int BLOCK = 16;
struct Part { int start, length; };

struct Pass {
    std::vector<Part> parts;
    std::vector<int> tables;  // parts x stride
    int stride = 0;
    std::vector<bf16> k, v;
    std::vector<float> q;
    int rows = 0;
};

static Pass make(const std::vector<Part>& parts, unsigned seed) {
    Pass p;
    p.parts = parts;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    int blocks = 0;
    for (auto& x : parts) {
        int b = (x.start + x.length + BLOCK - 1) / BLOCK;
        blocks += b;
        p.stride = std::max(p.stride, b);
        p.rows += x.length;
    }
    std::vector<int> pool(blocks);
    for (int i = 0; i < blocks; i++) pool[i] = i;
    std::shuffle(pool.begin(), pool.end(), rng);
    p.tables.assign(parts.size() * p.stride, 0);
    int next = 0;
    for (size_t s = 0; s < parts.size(); s++) {
        int b = (parts[s].start + parts[s].length + BLOCK - 1) / BLOCK;
        for (int i = 0; i < b; i++) p.tables[s * p.stride + i] = pool[next++];
    }
    p.k.resize((size_t) blocks * BLOCK * KV_DIM);
    p.v.resize(p.k.size());
    for (size_t i = 0; i < p.k.size(); i++) {
        p.k[i] = f2bf(u(rng));
        p.v[i] = f2bf(u(rng));
    }
    p.q.resize((size_t) p.rows * QKV_DIM);
    for (auto& x : p.q) x = 2 * u(rng);
    return p;
}

// Runs attention_fa over chunks {sequence, first row, rows, first position} of the pass, tiles of 16 * FA_WARPS rows.
static std::vector<wt> run(const Pass& p, const std::vector<int4>& chunks) {
    std::vector<int4> tiles;
    for (auto& c : chunks) {
        for (int f = 0; f < c.z; f += FA_M) tiles.push_back({c.x, c.y + f, std::min(FA_M, c.z - f), c.w + f});
    }
    std::vector<wt> out((size_t) p.rows * Q_DIM, 0xffff);
    int stride = p.stride;
    float scale = 1.0f / std::sqrt((float) HEAD_DIM);
    int grid = (int) tiles.size() * N_HEADS;
    const int threads = 32 * FA_WARPS;
    for (int b = 0; b < grid; b++) {
        std::barrier<> block(threads);
        std::vector<std::barrier<>*> warps;
        for (int w = 0; w < FA_WARPS; w++) {
            warps.push_back(new std::barrier<>(32));
            emu_warp_bar[w] = warps.back();
        }
        emu_block_bar = &block;
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; t++) {
            ts.emplace_back([&, t] {
                threadIdx.x = t;
                blockIdx.x = b;
                gridDim.x = grid;
                attention_fa(p.q.data(), p.k.data(), p.v.data(), tiles.data(), p.tables.data(), &stride, BLOCK, scale,
                             out.data());
            });
        }
        for (auto& t : ts) t.join();
        for (auto* w : warps) delete w;
    }
    return out;
}

// float64 softmax(q·Kᵀ·scale)·V of a row and head, q rounded to bf16 as the kernel rounds it.
static void reference(const Pass& p, int row, int seq, int pos, int h, double* o) {
    int kvh = h / GROUP;
    int from = WINDOW > 0 ? std::max(0, pos - WINDOW + 1) : 0;
    double scale = 1.0 / std::sqrt((double) HEAD_DIM);
    std::vector<double> s(pos - from + 1);
    double mx = -INFINITY;
    for (int j = from; j <= pos; j++) {
        long slot = (long) p.tables[seq * p.stride + j / BLOCK] * BLOCK + j % BLOCK;
        double dot = 0;
        for (int d = 0; d < HEAD_DIM; d++) {
            dot += (double) bf2f(f2bf(p.q[(size_t) row * QKV_DIM + h * HEAD_DIM + d])) * bf2f(p.k[slot * KV_DIM + kvh * HEAD_DIM + d]);
        }
        s[j - from] = dot * scale;
        mx = std::max(mx, s[j - from]);
    }
    double sum = 0;
    for (int d = 0; d < HEAD_DIM; d++) o[d] = 0;
    for (int j = from; j <= pos; j++) {
        long slot = (long) p.tables[seq * p.stride + j / BLOCK] * BLOCK + j % BLOCK;
        double w = std::exp(s[j - from] - mx);
        sum += w;
        for (int d = 0; d < HEAD_DIM; d++) o[d] += w * bf2f(p.v[slot * KV_DIM + kvh * HEAD_DIM + d]);
    }
    for (int d = 0; d < HEAD_DIM; d++) o[d] /= sum;
}

int main(int argc, char** argv) {
    emu_eager = argc > 1 && std::string(argv[1]) == "eager";
    std::vector<Part> parts = {{0, 200}, {1000, 129}, {100, 37}, {255, 2}, {31, 64}};
    Pass p = make(parts, 15);
    std::vector<int4> chunks;
    int row = 0;
    for (size_t s = 0; s < parts.size(); s++) {
        chunks.push_back({(int) s, row, parts[s].length, parts[s].start});
        row += parts[s].length;
    }
    std::vector<wt> out = run(p, chunks);
    double maxV = 0;
    for (auto x : p.v) maxV = std::max(maxV, (double) std::fabs(bf2f(x)));
    double worst = 0;
    long bad = 0;
    row = 0;
    std::vector<double> ref(HEAD_DIM);
    for (size_t s = 0; s < parts.size(); s++) {
        for (int i = 0; i < parts[s].length; i++, row++) {
            for (int h = 0; h < N_HEADS; h++) {
                reference(p, row, (int) s, parts[s].start + i, h, ref.data());
                for (int d = 0; d < HEAD_DIM; d++) {
                    double got = bf2f(out[(size_t) row * Q_DIM + h * HEAD_DIM + d]);
                    double e = std::fabs(got - ref[d]);
                    worst = std::max(worst, e);
                    if (!(e <= std::ldexp(std::fabs(ref[d]), -8) + std::ldexp(maxV, -8))) {
                        if (bad++ < 5) std::printf("row %d (pos %d) head %d dim %d: %g vs %g\n", row, parts[s].start + i, h, d, got, ref[d]);
                    }
                }
            }
        }
    }
    // The 200-row prompt as chunks [0, 77) and [77, 200): bit-equal to the batched pass.
    std::vector<wt> split = run(p, {{0, 0, 77, 0}, {0, 77, 123, 77}});
    long differ = 0;
    for (size_t i = 0; i < (size_t) 200 * Q_DIM; i++) differ += split[i] != out[i];
    std::printf("attention_fa emulated (HEAD_DIM %d, heads %d/%d, window %d, FA_WARPS %d, copies %s): %d rows, max |err| vs "
                "float64 %.2e, %ld out of bound; 200-row prompt as 77 + 123: %ld of %d elements differ\n",
                HEAD_DIM, N_HEADS, N_KV_HEADS, WINDOW, FA_WARPS, emu_eager ? "at issue" : "at the wait", p.rows, worst, bad,
                differ, 200 * Q_DIM);
    return bad == 0 && differ == 0 ? 0 : 1;
}
