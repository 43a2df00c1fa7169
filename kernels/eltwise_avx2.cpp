// eltwise_avx2.cpp: eltwise.h for AVX2 + FMA (8 floats per vector). Compiled with -mavx2 -mfma.
#include "kernels/eltwise_simd.h"

namespace sdref::kernels {

using Avx2 = EltwiseSimd<xsimd::fma3<xsimd::avx2>>;
const EltwiseKernels kEltwiseAvx2 = {"avx2", Avx2::activation, Avx2::exp_shift_sum, Avx2::max,
                                       Avx2::exp_columns, Avx2::max_columns};

}  // namespace sdref::kernels
