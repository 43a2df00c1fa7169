// ukernel.h: the GEMM micro-kernel contract, the table of micro-kernels, and the SIMD template they share.
//
// Contract of every fp32 micro-kernel (tile MR x NR, panel type F32):
//   a    packed A panel, kc steps of MR floats:  a[k * MR + r] = A(i0 + r, k)      (64-byte aligned)
//   b    packed B panel, kc steps of NR floats:  b[k * NR + j] = B(k, j0 + j)      (64-byte aligned)
//   c    the full MR x NR tile of C, row-major, leading dimension ldc (any alignment)
//   c[r][j] = (load_c ? c[r][j] : 0) + sum_k a[k][r] * b[k][j], as a chain of fused multiply-adds in k order.
//
// Contract of every bf16 micro-kernel (panel type BF16_PAIRS): the panels hold bf16 values, two k steps side by
// side, kc rounded up to even with a zero step:
//   a[(k/2) * 2MR + 2r + k%2] = bf16(A(i0 + r, k)),   b[(k/2) * 2NR + 2j + k%2] = bf16(B(k, j0 + j))
//   for each pair of steps, in k order:  c[r][j] += a(2p+1)·b(2p+1);  c[r][j] += a(2p)·b(2p)
//   (each product is exact in fp32, each sum rounded to nearest even, subnormal results flushed to zero: the
//   definition of AVX512_BF16's vdpbf16ps). bf16(x) rounds to nearest even and flushes subnormals to zero.
//   The micro-kernel's to_panel() turns a packed fp32 panel into this layout.
//
// Contract of every bf16 tile micro-kernel (panel type BF16_TILES, AMX's tdpbf16ps): kc is rounded up to a
// multiple of 32 with zero steps; B panels are laid out as BF16_PAIRS, A panels as rows of 32 steps:
//   a[(k/32) * 32MR + 32r + k%32] = bf16(A(i0 + r, k)),   b[(k/2) * 2NR + 2j + k%2] = bf16(B(k, j0 + j))
//   per block of 32 steps (one tdpbf16ps), two chains from zero, even and odd steps:
//     e += a(2p)·b(2p),  o += a(2p+1)·b(2p+1)   for p = 0 .. 15 in order, each sum rounded (nearest even,
//                                               subnormal results flushed to zero)
//     c[r][j] += (e + o)                        both additions rounded and flushed the same way
//   (the Intel SDM's TDPBF16PS). The chains restart every 32 steps of a K block, so K blocks are multiples of 32
//   (gemm_k_block) and the bits depend on the blocks' boundaries, which depend only on K.
//
// Edge tiles never reach a micro-kernel: the driver pads panels with zeros and computes edges in a scratch
// tile. Because every path of one panel type is the same chain, its micro-kernels give identical bits.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace sdref::kernels {

using MicroKernel = void (*)(int64_t kc, const void* a, const void* b, float* c, int64_t ldc, bool load_c);

enum class PanelType { F32, BF16_PAIRS, BF16_TILES };

// Converts one packed fp32 panel (kc steps of `width` floats) to the kernel's panel type, in `dst`.
using PanelConverter = void (*)(const float* src, void* dst, int64_t kc, int width);

struct MicroKernelInfo {
    const char* name;  // "avx2_6x16"
    MicroKernel kernel;
    int mr, nr;        // register tile
    int mc, kc, nc;    // cache blocks (gemm.cpp): A block MC x KC in L2; B block K x NC (tall problems) or
                       // chunk KC x NC/2 (wide problems)
    PanelType panel = PanelType::F32;
    PanelConverter to_panel = nullptr;  // bf16 kernels: B panels, and A panels unless to_panel_a says otherwise
    // The same chain on an A panel of 4 rows (a[k * 4 + r], bf16: a[(k/2) * 8 + 2r + k%2]), writing a 4 x NR
    // tile: attention's last V^T panel when the head dimension leaves 4 rows over (d = 40 or 64 on MR = 12),
    // where a whole panel would pad them to MR. nullptr where MR is 4 or no such remainder arises.
    MicroKernel kernel_4_rows = nullptr;
    PanelConverter to_panel_a = nullptr;  // BF16_TILES: A panels (rows of 32 steps)

    // The size of one packed panel of kc steps, in floats (bf16: two values in each float's bytes).
    int64_t panel_floats(int64_t kc, int64_t width) const {
        if (panel == PanelType::F32) return kc * width;
        return (panel == PanelType::BF16_TILES ? (kc + 31) / 32 * 16 : (kc + 1) / 2) * width;
    }
    // Steps a K block is a multiple of (gemm_k_block): 32 for tiles, 4 otherwise.
    int64_t k_multiple() const { return panel == PanelType::BF16_TILES ? 32 : 4; }
    // Turns a packed fp32 panel of `side` into this kernel's layout (bf16 kernels).
    void convert(Side side, const float* src, void* dst, int64_t kc, int width) const {
        (side == Side::A && to_panel_a ? to_panel_a : to_panel)(src, dst, kc, width);
    }
    bool bf16() const { return panel != PanelType::F32; }
};

// The fastest micro-kernel this CPU runs for a precision (SDREF_ISA caps it), or nullptr for BF16 on a CPU
// without bf16 dot-product instructions; and the scalar oracles.
const MicroKernelInfo& best_micro_kernel();
const MicroKernelInfo* best_micro_kernel(Precision p);
const MicroKernelInfo& scalar_micro_kernel(Precision p = Precision::FP32);
// The scalar oracle of a kernel's contract: the same panel type, blocks that give the same bits.
const MicroKernelInfo& scalar_oracle_of(const MicroKernelInfo& uk);
// What gemm() and attention() run for a precision: its best kernel, fp32's where that precision is unsupported.
const MicroKernelInfo& micro_kernel_for(Precision p);

// Per-ISA entries, defined in ukernel_<isa>_<MR>x<NR>.cpp.
extern const MicroKernelInfo kScalar4x4;
extern const MicroKernelInfo kScalarBf16_4x4;
extern const MicroKernelInfo kAvx2_6x16;
extern const MicroKernelInfo kAvx512_12x32;
extern const MicroKernelInfo kAvx512Bf16_12x32;
extern const MicroKernelInfo kNeon8x12;
extern const MicroKernelInfo kNeonBf16_8x12;
extern const MicroKernelInfo kScalarBf16Tiles_4x4;
extern const MicroKernelInfo kAmx_32x32;

// The scalar oracle's fp32 -> bf16 pair-panel converter, for a bf16 kernel without a faster one of its own.
void to_bf16_pairs_scalar(const float* src, void* dst, int64_t kc, int width);
// The AVX512_BF16 converter of the same layout (x86 builds; the CPU must have AVX512_BF16).
void to_bf16_pairs_avx512(const float* src, void* dst, int64_t kc, int width);
// A tile B panel's zero steps from kc up to a multiple of 32, after a pair converter has written kc steps.
void zero_tile_padding(void* dst, int64_t kc, int width);
// The tile oracle's converters: B as pairs with kc rounded up to 32, A as rows of 32 steps.
void to_bf16_tile_pairs_scalar(const float* src, void* dst, int64_t kc, int width);
void to_bf16_tile_rows_scalar(const float* src, void* dst, int64_t kc, int width);

// The K block gemm() cuts a K-deep product into for this kernel (the last block may be shorter): even blocks of
// at most uk.kc steps, a multiple of uk.k_multiple() (K = 1280 runs as 2 x 640 rather than 1024 + 256).
int64_t gemm_k_block(const MicroKernelInfo& uk, int64_t K);
// Pack columns w0 .. w0 + w - 1 of steps k0 .. k0 + kc - 1 of operand `side` into ceil(w / width) of uk's panels,
// `width` (MR for A, NR for B) wide, one after the other, as gemm() packs them.
void pack_panels(const MicroKernelInfo& uk, Side side, const PanelSource& src, float* dst, int64_t k0, int64_t kc,
                 int64_t w0, int64_t w, int width);

// Round fp32 to bf16 as the hardware does (nearest even, NaN kept quiet, subnormals to zero), and back.
uint16_t bf16_round(float x);
float bf16_value(uint16_t h);

}  // namespace sdref::kernels
