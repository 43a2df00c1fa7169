// eltwise.h: the element-wise inner loops that need transcendental functions, one implementation per ISA
// (eltwise_simd.h instantiated in eltwise_<isa>.cpp; the scalar one is the oracle), chosen once at start-up.
// Within one ISA results are the same bits for any thread count; across ISAs they may differ in the last bit.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace sdref::kernels {

struct EltwiseKernels {
    const char* name;
    // x[i] = act(x[i]) for i < n
    void (*activation)(float* x, int64_t n, Activation act);
    // x[i] = exp(x[i] - shift) for i < n; returns the sum of the new x[i]
    float (*exp_shift_sum)(float* x, int64_t n, float shift);
    // max over x[0..n), n >= 1
    float (*max)(const float* x, int64_t n);
    // down the columns of a [rows][width] tile: x[j][p] = exp(x[j][p] - shift[p]), then sum[p] += x[j][p] in
    // order j = 0, 1, ... (one softmax per column: attention's queries); x[j][p] <= shift[p] (the SIMD paths use
    // an exp for arguments <= 0 only)
    void (*exp_columns)(float* x, int64_t rows, int64_t width, const float* shift, float* sum);
    // down the columns of a [rows][width] tile: m[p] = max(m[p], x[0][p], ..., x[rows-1][p]) (exact in any
    // order: the SIMD paths keep several running maxima to hide the latency)
    void (*max_columns)(const float* x, int64_t rows, int64_t width, float* m);
};

const EltwiseKernels& eltwise();         // the best path for this CPU
const EltwiseKernels& eltwise_scalar();  // the oracle

extern const EltwiseKernels kEltwiseAvx2;
extern const EltwiseKernels kEltwiseAvx512;
extern const EltwiseKernels kEltwiseNeon;

}  // namespace sdref::kernels
