// gemm.cpp: the BLIS-style driver. Two loop nests, chosen by the shape; both end in the same macro-kernel.
//
// Tall (M >= N: a linear layer over many tokens). Threads share M blocks, handed out dynamically:
//   jc: N in NC-wide blocks        B block, all of K x NC, packed once by all threads together (L3)
//    ib: M in MC-tall blocks       one block per thread at a time (dynamic: a thread slowed by another process
//                                  does less, the result is unchanged)
//     pc: K in KC-deep blocks      the thread packs its A block MC x KC (L2); the first K block writes C
//      macro-kernel                jr over NR-wide B panels, ir over MR-tall A panels: micro-kernel
//
// Wide (N > M: a convolution, M = output channels and N = pixels). A (the weights) is packed once, whole;
// threads share N chunks, handed out dynamically, and pack their own B panels (no barrier in the N loop):
//   chunk: N in NC/2-wide chunks
//    pc: K in KC-deep blocks       the thread packs its B chunk KC x NC/2
//     ic: M in MC-tall blocks      A block from the packed whole
//      macro-kernel
//
// Every element of C is summed by one thread, as one chain of fused multiply-adds in k order, whichever thread
// that is, so the bits do not depend on the thread count or the schedule. The epilogue (bias, activation,
// residual) runs on a tile right after its last K block, while it is in cache.
#include "kernels/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/activation.h"
#include "kernels/convert.h"
#include "kernels/profile.h"
#include "kernels/scratch.h"
#include "kernels/transpose.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

// The kernels' thread count for the calling thread (set_num_threads, ThreadScope); 0: OpenMP's default.
thread_local int t_threads = 0;

// Packing buffers, one set per thread (OpenMP keeps its threads, so they are allocated once per process).
struct ThreadBuffers {
    ScratchFloats a, b, fp32;  // fp32: panels before their conversion to bf16
};
ThreadBuffers& thread_buffers() {
    static thread_local ThreadBuffers buffers;
    return buffers;
}

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t ceil_div(int64_t x, int64_t d) { return (x + d - 1) / d; }

// One operand of a product, `width` (MR for A, NR for B) wide panels. pack(): fp32 panels straight from the
// source, or (bf16 kernels) fp32 panels a few at a time into a scratch buffer that stays in L2, each then
// converted into the kernel's layout. A source packed already (a weight in an active WeightPanels) is read
// where it is instead: panels(kb, w0, kc) is K block kb's panel for columns w0 (a multiple of width) on.
struct Packer {
    const MicroKernelInfo& uk;
    const PanelSource& src;
    Side side;
    int width = side == Side::A ? uk.mr : uk.nr;
    bool packed = src.packed_block(uk, side, 0) != nullptr;
    void pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w) const { pack_panels(uk, side, src, dst, k0, kc, w0, w, width); }
    const float* panels(int64_t kb, int64_t w0, int64_t kc) const {
        return src.packed_block(uk, side, kb) + w0 / width * uk.panel_floats(kc, width);
    }
};

bool has_epilogue(const GemmEpilogue& ep) {
    return ep.row_bias || ep.col_bias || ep.activation != Activation::None || ep.residual;
}

void apply_epilogue(float* c, int64_t ldc, int64_t i, int64_t j, int64_t m, int64_t n, const GemmEpilogue& ep) {
    for (int64_t r = 0; r < m; ++r) {
        float* row = c + (i + r) * ldc + j;
        if (ep.row_bias) {
            const float b = ep.row_bias[i + r];
            for (int64_t q = 0; q < n; ++q) row[q] += b;
        }
        if (ep.col_bias)
            for (int64_t q = 0; q < n; ++q) row[q] += ep.col_bias[j + q];
        if (ep.activation != Activation::None) apply_activation(row, n, ep.activation);
        if (ep.residual) {
            const float* res = ep.residual + (i + r) * ldc + j;
            for (int64_t q = 0; q < n; ++q) row[q] += res[q];
        }
    }
}

// One K block of one C block: C[i0 .. i0+mc, j0 .. j0+nc] (+)= A block · B block.
//   a: ceil(mc / MR) packed A panels, a_stride floats apart;  b: ceil(nc / NR) packed B panels of kc x NR
//   first: the first K block (C is written, not accumulated);  last: the last one (the epilogue runs)
struct MacroTask {
    const float* a;
    int64_t a_stride;
    const float* b;
    int64_t kc;
    int64_t i0, j0, mc, nc;
    bool first, last;
};

void macro_kernel(const MicroKernelInfo& uk, const MacroTask& t, float* c, int64_t ldc, const GemmEpilogue& ep) {
    const int MR = uk.mr, NR = uk.nr;
    const bool epilogue = t.last && has_epilogue(ep);
    alignas(64) float edge[32 * 32];  // scratch tile for partial tiles (MR, NR <= 32)
    for (int64_t jp = 0; jp * NR < t.nc; ++jp) {
        const int64_t j = t.j0 + jp * NR, n = std::min<int64_t>(NR, t.nc - jp * NR);
        const float* b_panel = t.b + jp * uk.panel_floats(t.kc, NR);
        for (int64_t ip = 0; ip * MR < t.mc; ++ip) {
            const int64_t i = t.i0 + ip * MR, m = std::min<int64_t>(MR, t.mc - ip * MR);
            const float* a_panel = t.a + ip * t.a_stride;
            float* tile = c + i * ldc + j;
            if (m == MR && n == NR) {
                uk.kernel(t.kc, a_panel, b_panel, tile, ldc, !t.first);
            } else {
                if (!t.first)
                    for (int64_t r = 0; r < m; ++r) std::memcpy(edge + r * NR, tile + r * ldc, size_t(n) * 4);
                uk.kernel(t.kc, a_panel, b_panel, edge, NR, !t.first);
                for (int64_t r = 0; r < m; ++r) std::memcpy(tile + r * ldc, edge + r * NR, size_t(n) * 4);
            }
            if (epilogue) apply_epilogue(c, ldc, i, j, m, n, ep);
        }
    }
}

// Cache blocks for one problem.
struct Blocks {
    int64_t MC, KC, k_blocks;
};

Blocks plan_blocks(const MicroKernelInfo& uk, int64_t M, int64_t K) {
    Blocks bl;
    // Even blocks: K = 1280 runs as 2 x 640 rather than 1024 + 256, M = 4096 as 35 x 120 (rounded to MR).
    bl.KC = gemm_k_block(uk, K);
    bl.k_blocks = ceil_div(K, bl.KC);
    bl.MC = round_up(ceil_div(M, ceil_div(M, uk.mc)), uk.mr);
    return bl;
}

// The tall nest's M blocks: a multiple of the thread count, of ceil or floor of the same number of MR panels
// each, so that every thread gets the same work (M = 1024 with MR = 6 and 2 threads: 10 blocks of 17 or 18
// panels, not 9 blocks of 19, of which one thread would run 5).
struct RowBlocks {
    int64_t count, panels, MR;
    int64_t begin(int64_t b) const { return panels * b / count * MR; }  // first row of block b
    int64_t max_rows() const { return ceil_div(panels, count) * MR; }
};

RowBlocks plan_row_blocks(const MicroKernelInfo& uk, int64_t M, int threads) {
    const int64_t panels = ceil_div(M, uk.mr);
    int64_t count = ceil_div(M, uk.mc);
    if (count > 1) count = std::min(round_up(count, threads), panels);
    return {count, panels, uk.mr};
}

void gemm_tall(const MicroKernelInfo& uk, int64_t M, int64_t N, int64_t K, const Packer& a, const Packer& b, float* c,
               int64_t ldc, const GemmEpilogue& ep) {
    const Blocks bl = plan_blocks(uk, M, K);
    const RowBlocks rows = plan_row_blocks(uk, M, num_threads());
    const int NR = uk.nr;
    // The B block holds all of K; at most 8 MB of it (large K gets narrower blocks).
    const int64_t nc_max = std::min<int64_t>(uk.nc, std::max<int64_t>(NR, (int64_t(2) << 20) / K / NR * NR));
    const int64_t NC = round_up(ceil_div(N, ceil_div(N, nc_max)), NR);  // even blocks: N = 1280 as 2 x 640
    const int64_t n_panels = NC / NR;
    const int64_t b_block = uk.panel_floats(bl.KC, NC);  // floats per K block of the B block
    float* const bp = b.packed ? nullptr : thread_buffers().b.get(size_t(bl.k_blocks * b_block));
    const int threads = int(std::min<int64_t>(threads_for(M * N * K / 64), std::max(rows.count, n_panels)));

#pragma omp parallel num_threads(threads)
    {
        float* const my_a = a.packed ? nullptr : thread_buffers().a.get(size_t(rows.max_rows() * bl.KC));
        for (int64_t jc = 0; jc < N; jc += NC) {
            const int64_t nc = std::min(NC, N - jc), nc_panels = ceil_div(nc, NR);
            if (!b.packed) {
#pragma omp for schedule(dynamic)
                for (int64_t p = 0; p < bl.k_blocks * nc_panels; ++p) {
                    const int64_t kb = p / nc_panels, jp = p % nc_panels, pc = kb * bl.KC, kc = std::min(bl.KC, K - pc);
                    b.pack(bp + kb * b_block + jp * uk.panel_floats(kc, NR), pc, kc, jc + jp * NR, std::min<int64_t>(NR, nc - jp * NR));
                }
            }
#pragma omp for schedule(dynamic)
            for (int64_t ib = 0; ib < rows.count; ++ib) {
                const int64_t ic = rows.begin(ib), mc = std::min(rows.begin(ib + 1), M) - ic;
                for (int64_t kb = 0; kb < bl.k_blocks; ++kb) {
                    const int64_t pc = kb * bl.KC, kc = std::min(bl.KC, K - pc);
                    const float* a_panels = my_a;
                    if (a.packed) a_panels = a.panels(kb, ic, kc);
                    else a.pack(my_a, pc, kc, ic, mc);
                    const float* b_panels = b.packed ? b.panels(kb, jc, kc) : bp + kb * b_block;
                    const MacroTask task{a_panels, uk.panel_floats(kc, uk.mr), b_panels, kc, ic, jc, mc, nc, kb == 0,
                                         kb + 1 == bl.k_blocks};
                    macro_kernel(uk, task, c, ldc, ep);
                }
            }  // (the implied barrier keeps the B block until every thread is done with it)
        }
    }
}

void gemm_wide(const MicroKernelInfo& uk, int64_t M, int64_t N, int64_t K, const Packer& a, const Packer& b, float* c,
               int64_t ldc, const GemmEpilogue& ep) {
    const Blocks bl = plan_blocks(uk, M, K);
    const int MR = uk.mr, NR = uk.nr;
    const int64_t m_panels = ceil_div(M, MR), a_block = m_panels * uk.panel_floats(bl.KC, MR);  // per K block of packed A
    // Chunks of half an NC block, narrower when that leaves fewer than two per thread.
    const int64_t NCW = std::min(round_up(uk.nc / 2, NR), round_up(ceil_div(N, 2 * num_threads()), NR));
    const int64_t chunks = ceil_div(N, NCW);
    float* const ap = a.packed ? nullptr : thread_buffers().a.get(size_t(bl.k_blocks * a_block));
    const int threads = int(std::min<int64_t>(threads_for(M * N * K / 64), chunks));

#pragma omp parallel num_threads(threads)
    {
        if (!a.packed) {
#pragma omp for schedule(dynamic)
            for (int64_t p = 0; p < bl.k_blocks * m_panels; ++p) {
                const int64_t kb = p / m_panels, ip = p % m_panels, pc = kb * bl.KC, kc = std::min(bl.KC, K - pc);
                a.pack(ap + kb * a_block + ip * uk.panel_floats(kc, MR), pc, kc, ip * MR, std::min<int64_t>(MR, M - ip * MR));
            }
        }
        float* const my_b = b.packed ? nullptr : thread_buffers().b.get(size_t(bl.KC * NCW));
#pragma omp for schedule(dynamic)
        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
            const int64_t jc = chunk * NCW, nc = std::min(NCW, N - jc);
            for (int64_t kb = 0; kb < bl.k_blocks; ++kb) {
                const int64_t pc = kb * bl.KC, kc = std::min(bl.KC, K - pc);
                const float* b_panels = my_b;
                if (b.packed) b_panels = b.panels(kb, jc, kc);
                else b.pack(my_b, pc, kc, jc, nc);
                const int64_t a_panel = uk.panel_floats(kc, MR);
                const float* const a_block_kb = a.packed ? a.panels(kb, 0, kc) : ap + kb * a_block;
                for (int64_t ic = 0; ic < M; ic += bl.MC) {
                    const MacroTask task{a_block_kb + (ic / MR) * a_panel, a_panel, b_panels, kc, ic, jc,
                                         std::min(bl.MC, M - ic), nc, kb == 0, kb + 1 == bl.k_blocks};
                    macro_kernel(uk, task, c, ldc, ep);
                }
            }
        }
    }
}

}  // namespace

int64_t gemm_k_block(const MicroKernelInfo& uk, int64_t K) {
    return round_up(ceil_div(K, ceil_div(K, uk.kc)), uk.k_multiple());
}

void pack_panels(const MicroKernelInfo& uk, Side side, const PanelSource& src, float* dst, int64_t k0, int64_t kc,
                 int64_t w0, int64_t w, int width) {
    if (uk.panel == PanelType::F32) return src.pack(dst, k0, kc, w0, w, width);
    const int64_t group = std::max<int64_t>(1, (int64_t(64) << 10) / (kc * width));  // panels per 256 KB
    float* const tmp = thread_buffers().fp32.get(size_t(group * kc * width));
    for (int64_t q0 = 0; q0 * width < w; q0 += group) {
        const int64_t cols = std::min(group * width, w - q0 * width);
        src.pack(tmp, k0, kc, w0 + q0 * width, cols, width);
        for (int64_t q = 0; q * width < cols; ++q)
            uk.convert(side, tmp + q * kc * width, dst + (q0 + q) * uk.panel_floats(kc, width), kc, width);
    }
}

void set_num_threads(int n) { t_threads = n; }
ThreadScope::ThreadScope(int n) : previous_(t_threads), set_(n > 0) {
    if (set_) t_threads = n;
}
ThreadScope::~ThreadScope() {
    if (set_) t_threads = previous_;
}
bool precision_supported(Precision p) { return best_micro_kernel(p) != nullptr; }
const MicroKernelInfo& micro_kernel_for(Precision p) {
    const MicroKernelInfo* uk = best_micro_kernel(p);
    return uk ? *uk : best_micro_kernel();
}
const char* micro_kernel_name(Precision p) { return micro_kernel_for(p).name; }
int num_threads() { return t_threads > 0 ? t_threads : omp_get_max_threads(); }
int threads_for(int64_t work) { return int(std::clamp<int64_t>(work >> 16, 1, num_threads())); }

void gemm_with_kernel(const MicroKernelInfo& uk, int64_t M, int64_t N, int64_t K, const PanelSource& a,
                      const PanelSource& b, float* c, int64_t ldc, const GemmEpilogue& ep) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
        apply_epilogue(c, ldc, 0, 0, M, N, ep);
        return;
    }
    const Packer pa{uk, a, Side::A}, pb{uk, b, Side::B};
    if (N > M) gemm_wide(uk, M, N, K, pa, pb, c, ldc, ep);
    else gemm_tall(uk, M, N, K, pa, pb, c, ldc, ep);
}

void gemm(int64_t M, int64_t N, int64_t K, const PanelSource& a, const PanelSource& b, float* c, int64_t ldc,
          const GemmEpilogue& ep, Precision precision) {
    const ProfileScope profile(ProfileKind::Gemm, 2.0 * double(M) * double(N) * double(K));
    gemm_with_kernel(micro_kernel_for(precision), M, N, K, a, b, c, ldc, ep);
}

void linear(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx, const void* w, ElemType w_type, float* y,
            int64_t ldy, const GemmEpilogue& ep, Precision precision) {
    const StridedSource a({x, ElemType::F32, 1, ldx});
    const StridedSource b({w, w_type, 1, K});
    gemm(M, N, K, a, b, y, ldy, ep, precision);
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
        case ElemType::F8E4M3: {
            const uint8_t* p = static_cast<const uint8_t*>(m.data) + offset;
            if (stride == 1) convert_f8e4m3_to_f32(p, out, size_t(n));
            else for (int64_t i = 0; i < n; ++i) out[i] = f8e4m3_to_f32(p[i * stride]);
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

// dst[k][p] = src[p * stride + k] for k < kc, p < w; zero for w <= p < W.
template <int W>
void gather_rows(float* dst, const float* src, int64_t stride, int64_t kc, int64_t w) {
    if (w < W) {
        for (int64_t k = 0; k < kc; ++k)
            for (int p = 0; p < W; ++p) dst[k * W + p] = p < w ? src[p * stride + k] : 0.0f;
        return;
    }
    int64_t k = 0;
    if constexpr (W % 8 == 0)
        for (; k + 8 <= kc; k += 8)  // 8 x 8 blocks through registers
            for (int p = 0; p < W; p += 8) transpose_8x8(src + p * stride + k, stride, dst + k * W + p, W);
    for (; k < kc; ++k)
        for (int p = 0; p < W; ++p) dst[k * W + p] = src[p * stride + k];
}

}  // namespace

template <int W>
void StridedSource::convert_gather_rows(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w) const {
    constexpr int64_t kStretch = 128;  // W rows of 128 floats: 16 KB at W = 32, in L1 while they are gathered
    alignas(64) float rows[W * kStretch];
    for (int64_t kk = 0; kk < kc; kk += kStretch) {
        const int64_t len = std::min(kStretch, kc - kk);
        for (int64_t p = 0; p < W; ++p) {
            if (p < w) load_row(m_, (k0 + kk) + (w0 + p) * m_.w_stride, 1, len, rows + p * kStretch);
            else std::fill(rows + p * kStretch, rows + p * kStretch + len, 0.0f);
        }
        gather_rows<W>(dst + kk * W, rows, kStretch, len, W);
    }
}

void StridedSource::pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const {
    for (int64_t q = 0; q * width < w; ++q)
        pack_panel(dst + q * kc * width, k0, kc, w0 + q * width, std::min<int64_t>(width, w - q * width), width);
}

void StridedSource::pack_panel(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const {
    if (m_.w_stride == 1 || m_.k_stride != 1) {
        // rows of the panel are (strided) rows of the operand: one row per k
        for (int64_t k = 0; k < kc; ++k) {
            float* out = dst + k * width;
            load_row(m_, (k0 + k) * m_.k_stride + w0 * m_.w_stride, m_.w_stride, w, out);
            std::fill(out + w, out + width, 0.0f);
        }
        return;
    }
    // K-contiguous operand (a weight [out, in] or an activation [tokens, in])
    if (m_.type == ElemType::F32) {
        // fp32: gather straight from the `width` rows; the compiler unrolls the fixed-width loop over them
        const float* src = static_cast<const float*>(m_.data) + k0 + w0 * m_.w_stride;
        switch (width) {
            case 4: return gather_rows<4>(dst, src, m_.w_stride, kc, w);
            case 6: return gather_rows<6>(dst, src, m_.w_stride, kc, w);
            case 8: return gather_rows<8>(dst, src, m_.w_stride, kc, w);
            case 12: return gather_rows<12>(dst, src, m_.w_stride, kc, w);
            case 16: return gather_rows<16>(dst, src, m_.w_stride, kc, w);
            case 32: return gather_rows<32>(dst, src, m_.w_stride, kc, w);
            default: break;
        }
    }
    // fp16/bf16: convert the rows a stretch of k at a time into fp32 rows (zeros past w), then gather those
    switch (width) {
        case 8: return convert_gather_rows<8>(dst, k0, kc, w0, w);
        case 12: return convert_gather_rows<12>(dst, k0, kc, w0, w);
        case 16: return convert_gather_rows<16>(dst, k0, kc, w0, w);
        case 32: return convert_gather_rows<32>(dst, k0, kc, w0, w);
        default: break;
    }
    // otherwise: convert each column's kc values in one sweep, then interleave them into the panel
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
