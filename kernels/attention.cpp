#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "kernels/eltwise.h"
#include "kernels/gemm.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct FloatBuffer {
    std::unique_ptr<float[], void (*)(float*)> p{nullptr, [](float* f) { ::operator delete(f, std::align_val_t(64)); }};
    explicit FloatBuffer(size_t n) { p.reset(static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)))); }
    float* get() const { return p.get(); }
};

}  // namespace

void attention(const AttentionShape& s, const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
               int64_t ldv, float* o, int64_t ldo, float scale) {
    const MicroKernelInfo& uk = best_micro_kernel();
    const EltwiseKernels& ew = eltwise();
    const int64_t MR = uk.mr, NR = uk.nr, d = s.head_dim;
    const int64_t Bc = round_up(256, NR);                      // keys per block
    const int64_t Br = MR * std::max<int64_t>(1, 96 / MR);     // queries per block
    const int64_t Nk = round_up(s.keys, Bc);                   // keys, padded to whole blocks
    const int64_t Dp = round_up(d, NR);                        // head dim, padded to whole panels
    const int64_t key_panels = Nk / NR, d_panels = Dp / NR;

    // Pack K^T (d x keys, NR-key panels) and V (keys x d, NR-column panels) of every head once.
    FloatBuffer kp(size_t(s.heads * key_panels * d * NR)), vp(size_t(s.heads * d_panels * Nk * NR));
    const int64_t q_blocks = (s.queries + Br - 1) / Br;
#pragma omp parallel num_threads(num_threads())
    {
#pragma omp for schedule(static)
        for (int64_t hp = 0; hp < s.heads * key_panels; ++hp) {
            const int64_t h = hp / key_panels, p = hp % key_panels;
            const StridedSource kt({k + h * d, ElemType::F32, 1, ldk});
            float* dst = kp.get() + hp * d * NR;
            if (p * NR < s.keys) kt.pack(dst, 0, d, p * NR, std::min<int64_t>(s.keys - p * NR, NR), int(NR));
            else std::fill(dst, dst + d * NR, 0.0f);  // key padding
        }
#pragma omp for schedule(static)
        for (int64_t hp = 0; hp < s.heads * d_panels; ++hp) {
            const int64_t h = hp / d_panels, p = hp % d_panels;
            const StridedSource vs({v + h * d, ElemType::F32, ldv, 1});
            float* dst = vp.get() + hp * Nk * NR;
            vs.pack(dst, 0, s.keys, p * NR, std::min<int64_t>(NR, d - p * NR), int(NR));
            std::fill(dst + s.keys * NR, dst + Nk * NR, 0.0f);
        }

        // per-thread tiles
        FloatBuffer qp(size_t(Br * d)), scores(size_t(Br * Bc)), pp(size_t(Br * Bc)), acc(size_t(Br * Dp));
        std::vector<float> row_max(static_cast<size_t>(Br)), row_sum(static_cast<size_t>(Br));
#pragma omp for schedule(static)
        for (int64_t item = 0; item < s.heads * q_blocks; ++item) {
            const int64_t h = item / q_blocks, n0 = (item % q_blocks) * Br;
            const int64_t rows = std::min(Br, s.queries - n0), r_panels = (rows + MR - 1) / MR;
            const StridedSource qs({q + n0 * ldq + h * d, ElemType::F32, 1, ldq});
            for (int64_t rp = 0; rp < r_panels; ++rp)
                qs.pack(qp.get() + rp * d * MR, 0, d, rp * MR, std::min(MR, rows - rp * MR), int(MR));
            for (int64_t i = 0; i < r_panels * MR * d; ++i) qp.get()[i] *= scale;  // scores come out scaled
            std::fill(row_max.begin(), row_max.end(), -std::numeric_limits<float>::infinity());
            std::fill(row_sum.begin(), row_sum.end(), 0.0f);
            std::fill(acc.get(), acc.get() + Br * Dp, 0.0f);

            const int64_t key_end = s.causal ? std::min(s.keys, n0 + rows) : s.keys;  // later keys are all masked
            for (int64_t j0 = 0; j0 < key_end; j0 += Bc) {
                const int64_t valid = std::min(Bc, s.keys - j0);
                const int64_t width = round_up(valid, NR);  // only the key panels that hold keys
                // S = (scale Q) K^T for this key block: [r_panels * MR, width]
                for (int64_t jp = 0; jp < width / NR; ++jp)
                    for (int64_t rp = 0; rp < r_panels; ++rp)
                        uk.kernel(d, qp.get() + rp * d * MR, kp.get() + ((h * key_panels) + j0 / NR + jp) * d * NR,
                                  scores.get() + rp * MR * Bc + jp * NR, Bc, false);
                // online softmax: m' = max(m, max_j s), l' = l e^(m - m') + sum_j e^(s - m'), acc *= e^(m - m')
                for (int64_t r = 0; r < r_panels * MR; ++r) {
                    float* srow = scores.get() + r * Bc;
                    // keys this row may see in this block (causal: keys up to its own position)
                    const int64_t seen = s.causal ? std::clamp<int64_t>(n0 + r + 1 - j0, 0, valid) : valid;
                    float m_new = row_max[size_t(r)], rescale = 1.0f, block_sum = 0.0f;
                    if (seen > 0) {
                        m_new = std::max(row_max[size_t(r)], ew.max(srow, seen));
                        rescale = std::exp(row_max[size_t(r)] - m_new);
                        block_sum = ew.exp_shift_sum(srow, seen, m_new);
                    }
                    std::fill(srow + seen, srow + width, 0.0f);
                    row_sum[size_t(r)] = row_sum[size_t(r)] * rescale + block_sum;
                    row_max[size_t(r)] = m_new;
                    float* arow = acc.get() + r * Dp;
                    for (int64_t i = 0; i < Dp; ++i) arow[i] *= rescale;
                    // P into A-panel layout: pp[panel][j * MR + r % MR]
                    float* panel = pp.get() + (r / MR) * width * MR + r % MR;
                    for (int64_t j = 0; j < width; ++j) panel[j * MR] = srow[j];
                }
                // acc += P V for this key block
                for (int64_t dp = 0; dp < d_panels; ++dp)
                    for (int64_t rp = 0; rp < r_panels; ++rp)
                        uk.kernel(width, pp.get() + rp * width * MR, vp.get() + ((h * d_panels) + dp) * Nk * NR + j0 * NR,
                                  acc.get() + rp * MR * Dp + dp * NR, Dp, true);
            }
            for (int64_t r = 0; r < rows; ++r) {
                const float inv = 1.0f / row_sum[size_t(r)];
                float* orow = o + (n0 + r) * ldo + h * d;
                for (int64_t i = 0; i < d; ++i) orow[i] = acc.get()[r * Dp + i] * inv;
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
