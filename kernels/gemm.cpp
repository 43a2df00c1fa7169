// gemm.cpp: the BLIS-style driver. Loop nest (outermost first):
//
//   jc: N in NC-wide blocks        B block KC x NC packed once, shared by all threads (L3)
//    pc: K in KC-deep blocks       first block writes C, later blocks accumulate into it
//     ic: M in MC-tall blocks      A block MC x KC packed once, shared (L2)
//      jr: NR-wide micro-panels    split across threads
//       ir: MR-tall micro-panels   micro-kernel: C[MR x NR] += A panel · B panel (registers; L1 holds the B panel)
//
// The epilogue (bias, activation, residual) runs on a tile right after its last K block, while it is in cache.
#include "kernels/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "kernels/activation.h"
#include "kernels/convert.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

int g_threads = 0;

// A grow-only, 64-byte aligned float buffer (not copyable: it owns its memory).
struct AlignedFloats {
    float* p = nullptr;
    size_t size = 0;
    AlignedFloats() = default;
    AlignedFloats(const AlignedFloats&) = delete;
    AlignedFloats& operator=(const AlignedFloats&) = delete;
    ~AlignedFloats() { ::operator delete(p, std::align_val_t(64)); }
    float* get(size_t n) {
        if (n > size) {
            ::operator delete(p, std::align_val_t(64));
            p = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)));
            size = n;
        }
        return p;
    }
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void apply_epilogue(float* c, int64_t ldc, int64_t i, int64_t j, int64_t m, int64_t n, const GemmEpilogue& ep) {
    for (int64_t r = 0; r < m; ++r) {
        float* row = c + (i + r) * ldc + j;
        if (ep.row_bias) {
            const float b = ep.row_bias[i + r];
            for (int64_t q = 0; q < n; ++q) row[q] += b;
        }
        if (ep.col_bias)
            for (int64_t q = 0; q < n; ++q) row[q] += ep.col_bias[j + q];
        apply_activation(row, n, ep.activation);
        if (ep.residual) {
            const float* res = ep.residual + (i + r) * ldc + j;
            for (int64_t q = 0; q < n; ++q) row[q] += res[q];
        }
    }
}

}  // namespace

void set_num_threads(int n) { g_threads = n; }
int num_threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void gemm_with_kernel(const MicroKernelInfo& uk, int64_t M, int64_t N, int64_t K, const PanelSource& a,
                      const PanelSource& b, float* c, int64_t ldc, const GemmEpilogue& ep) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
        apply_epilogue(c, ldc, 0, 0, M, N, ep);
        return;
    }
    const int MR = uk.mr, NR = uk.nr;
    // Even blocks: K = 320 runs as 2 x 160 rather than 256 + 64, M = 4096 as 29 x 144 (rounded to MR).
    const int64_t KC = round_up((K + (K + uk.kc - 1) / uk.kc - 1) / ((K + uk.kc - 1) / uk.kc), 4);
    // M blocks: a multiple of the thread count when there are enough, so tall problems split evenly.
    int64_t m_blocks = (M + uk.mc - 1) / uk.mc;
    if (m_blocks >= 2 * num_threads()) m_blocks = round_up(m_blocks, num_threads());
    const int64_t MC = round_up((M + m_blocks - 1) / m_blocks, MR);
    const int64_t NC = std::min<int64_t>(uk.nc, round_up(N, NR));
    const int threads = int(std::min<int64_t>(num_threads(), std::max<int64_t>(m_blocks, (NC + NR - 1) / NR)));

    // Tall problems (M = tokens) split M between threads, each packing its own A rows. Wide ones (M = output
    // channels of a convolution, N = pixels) split the NR panels of each B block; their A (the weights, small)
    // is packed once for all of K before the N loop and shared, instead of again for every N block.
    const bool wide = !(m_blocks >= 2 * threads || m_blocks >= (NC + NR - 1) / NR);
    const int64_t k_blocks = (K + KC - 1) / KC, all_m_panels = (M + MR - 1) / MR;

    static thread_local AlignedFloats b_buf;                  // the shared B block, KC x NC
    static thread_local AlignedFloats a_all_buf;              // wide problems: all of A, packed once
    static thread_local std::vector<std::unique_ptr<AlignedFloats>> a_bufs;  // one A block (MC x KC) per thread
    float* const bp = b_buf.get(size_t(KC * NC));
    float* const a_all = wide ? a_all_buf.get(size_t(k_blocks * all_m_panels * KC * MR)) : nullptr;
    while (a_bufs.size() < size_t(threads)) a_bufs.push_back(std::make_unique<AlignedFloats>());
    std::vector<float*> ap(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) ap[size_t(t)] = wide ? nullptr : a_bufs[size_t(t)]->get(size_t(MC * KC));

#pragma omp parallel num_threads(threads)
    {
        const int T = omp_get_num_threads(), t = omp_get_thread_num();
        float* const my_a = ap[size_t(t)];
        alignas(64) float edge[32 * 32];  // scratch tile for partial tiles (MR, NR <= 32)
        if (wide) {
#pragma omp for schedule(static)
            for (int64_t kp = 0; kp < k_blocks * all_m_panels; ++kp) {
                const int64_t kb = kp / all_m_panels, ip = kp % all_m_panels, pc = kb * KC;
                a.pack(a_all + kp * KC * MR, pc, std::min(KC, K - pc), ip * MR, std::min<int64_t>(MR, M - ip * MR), MR);
            }
        }
        // wide: one M block covering all rows, every thread; tall: this thread's share of the M blocks
        const int64_t block_rows = wide ? round_up(M, MR) : MC, blocks = wide ? 1 : m_blocks;
        const int64_t ic_begin = wide ? 0 : blocks * t / T, ic_end = wide ? 1 : blocks * (t + 1) / T;
        for (int64_t jc = 0; jc < N; jc += NC) {
            const int64_t nc = std::min(NC, N - jc);
            const int64_t n_panels = (nc + NR - 1) / NR;
            const int64_t jp_begin = wide ? n_panels * t / T : 0, jp_end = wide ? n_panels * (t + 1) / T : n_panels;
            for (int64_t pc = 0; pc < K; pc += KC) {
                const int64_t kc = std::min(KC, K - pc);
                const bool first = pc == 0, last = pc + kc == K;
#pragma omp for schedule(static)
                for (int64_t jp = 0; jp < n_panels; ++jp)
                    b.pack(bp + jp * kc * NR, pc, kc, jc + jp * NR, std::min<int64_t>(NR, nc - jp * NR), NR);
                for (int64_t ib = ic_begin; ib < ic_end; ++ib) {
                    const int64_t ic = ib * block_rows;
                    if (ic >= M) break;
                    const int64_t mc = std::min(block_rows, M - ic);
                    const int64_t m_panels = (mc + MR - 1) / MR;
                    const float* a_block = wide ? a_all + (pc / KC) * all_m_panels * KC * MR : my_a;
                    const int64_t a_stride = wide ? KC * MR : kc * MR;  // floats between A panels
                    if (!wide)
                        for (int64_t ip = 0; ip < m_panels; ++ip)
                            a.pack(my_a + ip * kc * MR, pc, kc, ic + ip * MR, std::min<int64_t>(MR, mc - ip * MR), MR);
                    for (int64_t jp = jp_begin; jp < jp_end; ++jp) {
                        const int64_t j = jc + jp * NR, n = std::min<int64_t>(NR, nc - jp * NR);
                        const float* b_panel = bp + jp * kc * NR;
                        for (int64_t ip = 0; ip < m_panels; ++ip) {
                            const int64_t i = ic + ip * MR, m = std::min<int64_t>(MR, mc - ip * MR);
                            const float* a_panel = a_block + ip * a_stride;
                            float* tile = c + i * ldc + j;
                            if (m == MR && n == NR) {
                                uk.kernel(kc, a_panel, b_panel, tile, ldc, !first);
                            } else {
                                if (!first)
                                    for (int64_t r = 0; r < m; ++r) std::memcpy(edge + r * NR, tile + r * ldc, size_t(n) * 4);
                                uk.kernel(kc, a_panel, b_panel, edge, NR, !first);
                                for (int64_t r = 0; r < m; ++r) std::memcpy(tile + r * ldc, edge + r * NR, size_t(n) * 4);
                            }
                            if (last) apply_epilogue(c, ldc, i, j, m, n, ep);
                        }
                    }
                }
#pragma omp barrier
            }
        }
    }
}

void gemm(int64_t M, int64_t N, int64_t K, const PanelSource& a, const PanelSource& b, float* c, int64_t ldc,
          const GemmEpilogue& ep) {
    gemm_with_kernel(best_micro_kernel(), M, N, K, a, b, c, ldc, ep);
}

void linear(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx, const void* w, ElemType w_type, float* y,
            int64_t ldy, const GemmEpilogue& ep) {
    const StridedSource a({x, ElemType::F32, 1, ldx});
    const StridedSource b({w, w_type, 1, K});
    gemm(M, N, K, a, b, y, ldy, ep);
}

// ---- packing ------------------------------------------------------------------------------------------------

namespace {

// n values of a row of the operand (stride `stride` elements apart), converted to fp32.
void load_row(const StridedMatrix& m, int64_t offset, int64_t stride, int64_t n, float* out) {
    switch (m.type) {
        case ElemType::F32: {
            const float* p = static_cast<const float*>(m.data) + offset;
            if (stride == 1) std::memcpy(out, p, size_t(n) * 4);
            else for (int64_t i = 0; i < n; ++i) out[i] = p[i * stride];
            return;
        }
        case ElemType::F16:
        case ElemType::BF16: {
            const uint16_t* p = static_cast<const uint16_t*>(m.data) + offset;
            if (stride == 1) {
                if (m.type == ElemType::F16) convert_f16_to_f32(p, out, size_t(n));
                else convert_bf16_to_f32(p, out, size_t(n));
            } else {
                uint16_t tmp[256];
                for (int64_t done = 0; done < n; done += 256) {
                    const int64_t len = std::min<int64_t>(256, n - done);
                    for (int64_t i = 0; i < len; ++i) tmp[i] = p[(done + i) * stride];
                    if (m.type == ElemType::F16) convert_f16_to_f32(tmp, out + done, size_t(len));
                    else convert_bf16_to_f32(tmp, out + done, size_t(len));
                }
            }
            return;
        }
    }
}

}  // namespace

void StridedSource::pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const {
    if (m_.w_stride == 1 || m_.k_stride != 1) {
        // rows of the panel are (strided) rows of the operand: one row per k
        for (int64_t k = 0; k < kc; ++k) {
            float* out = dst + k * width;
            load_row(m_, (k0 + k) * m_.k_stride + w0 * m_.w_stride, m_.w_stride, w, out);
            std::fill(out + w, out + width, 0.0f);
        }
        return;
    }
    // K-contiguous operand (a weight [out, in] or an activation [tokens, in]): read each column's kc values
    // in one sweep, then interleave them into the panel.
    float column[512];
    for (int64_t p = 0; p < width; ++p) {
        for (int64_t kk = 0; kk < kc; kk += 512) {
            const int64_t len = std::min<int64_t>(512, kc - kk);
            if (p < w) load_row(m_, (k0 + kk) + (w0 + p) * m_.w_stride, 1, len, column);
            else std::fill(column, column + len, 0.0f);
            for (int64_t k = 0; k < len; ++k) dst[(kk + k) * width + p] = column[k];
        }
    }
}

}  // namespace sdref::kernels
