// eltwise_avx512.cpp: eltwise.h for AVX-512F (16 floats per vector). Compiled with -mavx512f.
#include "kernels/eltwise_simd.h"

namespace sdref::kernels {

using Avx512 = EltwiseSimd<xsimd::avx512f>;
const EltwiseKernels kEltwiseAvx512 = {"avx512", Avx512::activation, Avx512::exp_shift_sum, Avx512::max,
                                       Avx512::exp_columns, Avx512::max_columns};

}  // namespace sdref::kernels
