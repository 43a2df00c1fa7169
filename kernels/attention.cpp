#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/eltwise.h"
#include "kernels/gemm.h"
#include "kernels/profile.h"
#include "kernels/scratch.h"
#include "kernels/transpose.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// One key block of the online softmax, for the NR queries (columns) of an S^T tile [width][NR]:
//   m' = max(m, max_j s_j),  r = e^(m - m'),  P = e^(S - m'),  l' = l r + sum_j P
// The tile becomes P (rows valid .. width zeroed); m and l are updated; r is returned for rescaling O.
// Each column is reduced in key order: the bits do not depend on how queries are split between threads.
void online_softmax_update(const EltwiseKernels& ew, float* tile, int64_t valid, int64_t width, int64_t NR, float* m,
                           float* l, float* r) {
    float m_new[32], block_sum[32] = {};  // NR <= 32
    std::copy(m, m + NR, m_new);
    ew.max_columns(tile, valid, NR, m_new);
    ew.exp_columns(tile, valid, NR, m_new, block_sum);
    std::fill(tile + valid * NR, tile + width * NR, 0.0f);
    for (int64_t p = 0; p < NR; ++p) {
        r[p] = std::exp(m[p] - m_new[p]);
        m[p] = m_new[p];
        l[p] = l[p] * r[p] + block_sum[p];
    }
}

}  // namespace

// The transposed formulation, so that every product runs on the GEMM micro-kernel and the softmax runs down
// the columns of a tile, one query per SIMD lane:
//   S^T = K (scale Q)^T      A = K (MR-key panels),   B = Q^T (NR-query panels)  ->  a [keys][NR] tile per panel
//   O^T += V^T P^T           A = V^T (MR-dim panels), B = P^T: that same tile, already in B-panel layout
// With --precision bf16 both products run on the bf16 micro-kernel: K, V^T and Q^T are packed in fp32 as
// always, then rounded into the kernel's bf16 panels (pairs, or AMX's tiles: uk.convert), and so is each P^T tile
// after its softmax.
void attention(const AttentionShape& s, const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
               int64_t ldv, float* o, int64_t ldo, float scale, Precision precision) {
    // (QK^T and PV: 2 x 2 flops per query, key and channel; a causal mask skips about half, not counted)
    const ProfileScope profile(ProfileKind::Attention, 4.0 * double(s.heads) * double(s.queries) * double(s.keys) * double(s.head_dim));
    attention_with_kernel(micro_kernel_for(precision), s, q, ldq, k, ldk, v, ldv, o, ldo, scale);
}

void attention_with_kernel(const MicroKernelInfo& uk, const AttentionShape& s, const float* q, int64_t ldq,
                           const float* k, int64_t ldk, const float* v, int64_t ldv, float* o, int64_t ldo, float scale) {
    const bool bf16_panels = uk.bf16();  // bf16 panels (pairs or tiles)
    const EltwiseKernels& ew = eltwise();
    const int64_t MR = uk.mr, NR = uk.nr, d = s.head_dim;
    const int64_t Bc = round_up(256, MR);                      // keys per block (whole K panels; 32-step tiles)
    const int64_t Br = NR * std::max<int64_t>(1, 96 / NR);     // queries per block (whole Q panels)
    const int64_t q_panels = Br / NR;
    const int64_t Nk = round_up(s.keys, Bc);                   // keys, padded to whole blocks
    // V^T's panels: whole MR-row panels of the head dimension, then what is left over in one 4-row panel where
    // the kernel has a 4-row form and at most 4 are left (d = 40 on MR = 12: 3 x 12 + 4, not 4 x 12 with 8 rows
    // of zeros), else in one more padded MR-row panel
    const bool tail_4_rows = uk.kernel_4_rows && d % MR != 0 && d % MR <= 4;
    const int64_t d_panels = (d + MR - 1) / MR;
    const int64_t Dp = tail_4_rows ? (d_panels - 1) * MR + 4 : d_panels * MR;  // head dim, padded to the panels
    const auto panel_rows = [&](int64_t dp) { return tail_4_rows && dp == d_panels - 1 ? int64_t(4) : MR; };
    const int64_t key_panels = Nk / MR;

    // Pack K (MR-key panels, d deep) and V^T (MR-dim panels, Nk deep) of every head once; padding is zero.
    ScratchFloats k_buffer, v_buffer;  // freed when the call returns (the VAE's attention packs 2 x 8 MB)
    const int64_t k_panel = uk.panel_floats(d, MR), v_panel = uk.panel_floats(Nk, MR), q_panel = uk.panel_floats(d, NR);
    float* const kp = k_buffer.get(size_t(s.heads * key_panels * k_panel));
    float* const vp = v_buffer.get(size_t(s.heads * d_panels * v_panel));
    const int64_t q_blocks = (s.queries + Br - 1) / Br;
#pragma omp parallel num_threads(threads_for(s.heads * s.queries * s.keys * d / 16))
    {
        ScratchFloats fp32_panel;  // bf16: a panel in fp32 before its rounding
        float* const f32 = bf16_panels ? fp32_panel.get(size_t(std::max(d * std::max(MR, NR), Nk * MR))) : nullptr;
#pragma omp for schedule(dynamic)
        for (int64_t hp = 0; hp < s.heads * key_panels; ++hp) {
            const int64_t h = hp / key_panels, p = hp % key_panels;
            const StridedSource keys({k + h * d, ElemType::F32, 1, ldk});
            float* dst = bf16_panels ? f32 : kp + hp * k_panel;
            if (p * MR < s.keys) keys.pack(dst, 0, d, p * MR, std::min(MR, s.keys - p * MR), int(MR));
            else std::fill(dst, dst + d * MR, 0.0f);
            if (bf16_panels) uk.convert(Side::A, f32, kp + hp * k_panel, d, int(MR));
        }
#pragma omp for schedule(dynamic)
        for (int64_t hp = 0; hp < s.heads * d_panels; ++hp) {
            const int64_t h = hp / d_panels, p = hp % d_panels;
            const StridedSource values_t({v + h * d, ElemType::F32, ldv, 1});
            const int64_t rows_p = panel_rows(p);
            float* dst = bf16_panels ? f32 : vp + hp * v_panel;
            values_t.pack(dst, 0, s.keys, p * MR, std::min(rows_p, d - p * MR), int(rows_p));
            std::fill(dst + s.keys * rows_p, dst + Nk * rows_p, 0.0f);
            if (bf16_panels) uk.convert(Side::A, f32, vp + hp * v_panel, Nk, int(rows_p));
        }

        // per-thread tiles: Q^T panels, S^T = P^T panels, O^T accumulators, and per query the running m and l
        ScratchFloats q_tiles, s_tiles, o_tiles, bf16_tiles;
        float* const qt = q_tiles.get(size_t(q_panels * d * NR));
        float* const qt_bf16 = bf16_panels ? bf16_tiles.get(size_t(q_panels * q_panel + uk.panel_floats(Bc, NR))) : nullptr;
        float* const pt_bf16 = bf16_panels ? qt_bf16 + q_panels * q_panel : nullptr;  // one P^T tile at a time
        float* const st = s_tiles.get(size_t(q_panels * Bc * NR));
        float* const acc = o_tiles.get(size_t(q_panels * Dp * NR));
        std::vector<float> row_max(static_cast<size_t>(Br)), row_sum(static_cast<size_t>(Br));
#pragma omp for schedule(dynamic)
        for (int64_t item = 0; item < s.heads * q_blocks; ++item) {
            const int64_t h = item / q_blocks, n0 = (item % q_blocks) * Br;
            const int64_t rows = std::min(Br, s.queries - n0), panels = (rows + NR - 1) / NR;
            const StridedSource queries({q + h * d, ElemType::F32, 1, ldq});
            queries.pack(qt, 0, d, n0, rows, int(NR));
            for (int64_t i = 0; i < panels * d * NR; ++i) qt[i] *= scale;  // scores come out scaled
            if (bf16_panels)
                for (int64_t qp = 0; qp < panels; ++qp) uk.convert(Side::B, qt + qp * d * NR, qt_bf16 + qp * q_panel, d, int(NR));
            const float* const q_panels_in = bf16_panels ? qt_bf16 : qt;
            const int64_t q_stride = bf16_panels ? q_panel : d * NR;
            std::fill(row_max.begin(), row_max.end(), -std::numeric_limits<float>::infinity());
            std::fill(row_sum.begin(), row_sum.end(), 0.0f);
            std::fill(acc, acc + panels * Dp * NR, 0.0f);

            const int64_t key_end = s.causal ? std::min(s.keys, n0 + rows) : s.keys;  // later keys are all masked
            for (int64_t j0 = 0; j0 < key_end; j0 += Bc) {
                const int64_t valid = std::min(Bc, s.keys - j0);
                const int64_t width = round_up(valid, MR);  // keys of this block, padded to whole K panels
                for (int64_t qp = 0; qp < panels; ++qp) {
                    float* const tile = st + qp * Bc * NR;  // [width keys][NR queries]
                    float* const m = row_max.data() + qp * NR;
                    float* const l = row_sum.data() + qp * NR;
                    float r[32];  // this block's rescale factor per query (NR <= 32)
                    // S^T for this key block
                    for (int64_t kb = 0; kb < width / MR; ++kb)
                        uk.kernel(d, kp + (h * key_panels + j0 / MR + kb) * k_panel, q_panels_in + qp * q_stride,
                                  tile + kb * MR * NR, NR, false);
                    if (s.causal)  // query n sees keys j <= n
                        for (int64_t j = 0; j < valid; ++j)
                            for (int64_t p = 0; p < NR; ++p)
                                if (j0 + j > n0 + qp * NR + p) tile[j * NR + p] = -std::numeric_limits<float>::infinity();
                    online_softmax_update(ew, tile, valid, width, NR, m, l, r);
                    float* const o_t = acc + qp * Dp * NR;  // [Dp dims][NR queries]
                    for (int64_t i = 0; i < Dp; ++i)
                        for (int64_t p = 0; p < NR; ++p) o_t[i * NR + p] *= r[p];
                    // O^T += V^T P^T for this key block (j0 and width are whole MR panels: even, whole bf16 pairs)
                    if (bf16_panels) uk.convert(Side::B, tile, pt_bf16, width, int(NR));
                    for (int64_t dp = 0; dp < d_panels; ++dp) {
                        const int64_t rows_p = panel_rows(dp);
                        (rows_p == MR ? uk.kernel : uk.kernel_4_rows)(
                            width, vp + (h * d_panels + dp) * v_panel + uk.panel_floats(j0, rows_p), bf16_panels ? pt_bf16 : tile,
                            o_t + dp * MR * NR, NR, true);
                    }
                }
            }
            // O = (O^T / l)^T, in 8 x 8 blocks through registers where they are whole
            for (int64_t qp = 0; qp < panels; ++qp) {
                float* const o_t = acc + qp * Dp * NR;
                const float* const l = row_sum.data() + qp * NR;
                float inv[32];  // NR <= 32
                for (int64_t p = 0; p < NR; ++p) inv[p] = 1.0f / l[p];
                for (int64_t i = 0; i < d; ++i)
                    for (int64_t p = 0; p < NR; ++p) o_t[i * NR + p] *= inv[p];
                const int64_t n_begin = qp * NR, n_end = std::min(rows, n_begin + NR);
                int64_t n = n_begin;
                for (; n + 8 <= n_end; n += 8) {
                    int64_t i = 0;
                    for (; i + 8 <= d; i += 8)
                        transpose_8x8(o_t + i * NR + (n - n_begin), NR, o + (n0 + n) * ldo + h * d + i, ldo);
                    for (; i < d; ++i)
                        for (int64_t c = 0; c < 8; ++c) o[(n0 + n + c) * ldo + h * d + i] = o_t[i * NR + (n + c - n_begin)];
                }
                for (; n < n_end; ++n)
                    for (int64_t i = 0; i < d; ++i) o[(n0 + n) * ldo + h * d + i] = o_t[i * NR + (n - n_begin)];
            }
        }
    }
}

void attention_reference(const AttentionShape& s, const float* q, int64_t ldq, const float* k, int64_t ldk,
                         const float* v, int64_t ldv, float* o, int64_t ldo, float scale) {
    const int64_t d = s.head_dim;
    std::vector<double> p(size_t(s.keys));
    for (int64_t h = 0; h < s.heads; ++h)
        for (int64_t n = 0; n < s.queries; ++n) {
            double m = -INFINITY;
            const int64_t seen = s.causal ? std::min(n + 1, s.keys) : s.keys;
            std::fill(p.begin(), p.end(), 0.0);
            for (int64_t j = 0; j < seen; ++j) {
                double dot = 0;
                for (int64_t i = 0; i < d; ++i) dot += double(q[n * ldq + h * d + i]) * k[j * ldk + h * d + i];
                p[size_t(j)] = dot * scale;
                m = std::max(m, p[size_t(j)]);
            }
            double sum = 0;
            for (int64_t j = 0; j < seen; ++j) sum += p[size_t(j)] = std::exp(p[size_t(j)] - m);
            for (int64_t i = 0; i < d; ++i) {
                double out = 0;
                for (int64_t j = 0; j < s.keys; ++j) out += p[size_t(j)] * v[j * ldv + h * d + i];
                o[n * ldo + h * d + i] = float(out / sum);
            }
        }
}

}  // namespace sdref::kernels
