// attention.h: multi-head scaled dot-product attention, fused and tiled (flash-attention style).
//
//   O[n, h] = sum_j softmax_j(scale * Q[n, h] · K[j, h]) V[j, h]        for each head h (d = head_dim wide)
//
// The N_q x N_k score matrix is never stored: queries go in blocks of Br rows, keys in blocks of Bc; for each key
// block the scores S = Q K^T (a small GEMM on the micro-kernel), then an online softmax keeps per row the running
// maximum m and sum l, rescales the partial output by e^(m_old - m_new) and adds P V (another micro-kernel GEMM).
// Memory: O((N_q + N_k) d) plus a Br x Bc tile per thread. Each output row is summed by one thread in a fixed
// key order: the same bits for any thread count.
//
// Layout: row n of Q holds all heads, head h at q + n * ldq + h * d (the output of the q projection as is);
// likewise K, V and O.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace sdref::kernels {

struct AttentionShape {
    int64_t heads, head_dim, queries, keys;
    bool causal = false;  // query n sees keys 0..n only (CLIP's text transformer)
};

// `precision`: both products' (gemm.h), the softmax is fp32.
void attention(const AttentionShape& shape, const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
               int64_t ldv, float* o, int64_t ldo, float scale, Precision precision = Precision::FP32);

// attention() on a given micro-kernel (tests hold every bf16 kernel against its oracle through this).
struct MicroKernelInfo;
void attention_with_kernel(const MicroKernelInfo& uk, const AttentionShape& shape, const float* q, int64_t ldq,
                           const float* k, int64_t ldk, const float* v, int64_t ldv, float* o, int64_t ldo, float scale);

// The direct computation in double precision (the full score matrix, one row at a time): the test oracle.
void attention_reference(const AttentionShape& shape, const float* q, int64_t ldq, const float* k, int64_t ldk,
                         const float* v, int64_t ldv, float* o, int64_t ldo, float scale);

}  // namespace sdref::kernels
