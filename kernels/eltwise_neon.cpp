// eltwise_neon.cpp: eltwise.h for aarch64 Advanced SIMD (4 floats per vector).
#include "kernels/eltwise_simd.h"

namespace sdref::kernels {

using Neon = EltwiseSimd<xsimd::neon64>;
const EltwiseKernels kEltwiseNeon = {"neon", Neon::activation, Neon::exp_shift_sum, Neon::max,
                                       Neon::exp_columns, Neon::max_columns};

}  // namespace sdref::kernels
