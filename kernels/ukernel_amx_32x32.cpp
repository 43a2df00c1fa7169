// ukernel_amx_32x32.cpp: Intel AMX (AMX-TILE, AMX-BF16), 32 rows x 32 columns, the bf16 tile contract of
// ukernel.h. Eight tile registers of 16 rows x 64 bytes:
//   tmm0 tmm1     C rows  0-15, columns 0-15 | 16-31     (fp32, 16 x 16 each)
//   tmm2 tmm3     C rows 16-31, columns 0-15 | 16-31
//   tmm4 tmm5     A rows  0-15 | 16-31 of a block of 32 steps (16 rows of 32 bf16: the panel's rows of 32 steps)
//   tmm6 tmm7     B pairs 0-15 of the block, columns 0-15 | 16-31 (16 rows of 16 pairs, 128 bytes apart)
// Per block of 32 steps: 4 tile loads, 4 tdpbf16ps (each 16 x 16 x 32 multiply-adds: 16K FLOP).
// Compiled with -mamx-tile -mamx-bf16 -mavx512bf16; chosen for --precision bf16 when cpu_features().amx_bf16,
// which also means Linux granted this process the tile data state (cpu.cpp asks once).
// Blocks: A block 128 x 640 bf16 (160 KB) in L2, KC a multiple of 32 (the tile oracle's, for the same bits).
#include <immintrin.h>

#include <algorithm>

#include "kernels/transpose.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

constexpr int MR = 32, NR = 32;

// The tile palette (ldtilecfg's 64-byte operand): palette 1, eight tiles of 16 rows x 64 bytes.
struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
    uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Each thread loads the configuration once, before its first tile instruction (it is part of the thread's state).
void configure_tiles() {
    static thread_local bool configured = false;
    if (configured) return;
    static const TileConfig config;
    _tile_loadconfig(&config);
    configured = true;
}

void ukernel_amx(int64_t kc, const void* a_, const void* b_, float* c, int64_t ldc, bool load_c) {
    configure_tiles();
    const auto* a = static_cast<const char*>(a_);  // per block: 32 rows of 64 bytes
    const auto* b = static_cast<const char*>(b_);  // per block: 16 pair rows of 128 bytes
    const int64_t c_stride = ldc * int64_t(sizeof(float));
    float* const c_lower = c + 16 * ldc;
    if (load_c) {
        _tile_loadd(0, c, c_stride);
        _tile_loadd(1, c + 16, c_stride);
        _tile_loadd(2, c_lower, c_stride);
        _tile_loadd(3, c_lower + 16, c_stride);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t t = 0; t < (kc + 31) / 32; ++t) {
        const char* at = a + t * MR * 64;
        const char* bt = b + t * 16 * NR * 4;
        _tile_loadd(4, at, 64);
        _tile_loadd(5, at + 16 * 64, 64);
        _tile_loadd(6, bt, NR * 4);
        _tile_loadd(7, bt + 64, NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, c_stride);
    _tile_stored(1, c + 16, c_stride);
    _tile_stored(2, c_lower, c_stride);
    _tile_stored(3, c_lower + 16, c_stride);
}

// B: the AVX512_BF16 pair converter, then zero steps up to a multiple of 32
void to_bf16_tile_pairs_amx(const float* src, void* dst, int64_t kc, int width) {
    to_bf16_pairs_avx512(src, dst, kc, width);
    zero_tile_padding(dst, kc, width);
}

// A: per block of 32 steps, the [step][row] fp32 panel turned to [row][step] in 8 x 8 blocks (rows past `width`
// of a partial block are zero steps), then each row of 32 steps rounded to bf16 with one vcvtne2ps2bf16.
void to_bf16_tile_rows_amx(const float* src, void* dst_, int64_t kc, int width) {
    auto* dst = static_cast<uint16_t*>(dst_);
    alignas(64) float rows[MR * 32];  // [row][step] of one block; width <= MR
    for (int64_t k0 = 0; k0 < kc; k0 += 32) {
        const int64_t steps = std::min<int64_t>(32, kc - k0);
        const float* block = src + k0 * width;
        if (steps == 32 && width % 8 == 0) {
            for (int s = 0; s < 32; s += 8)
                for (int r = 0; r < width; r += 8) transpose_8x8(block + s * width + r, width, rows + r * 32 + s, 32);
        } else {
            for (int r = 0; r < width; ++r)
                for (int s = 0; s < 32; ++s) rows[r * 32 + s] = s < steps ? block[s * width + r] : 0.0f;
        }
        uint16_t* out = dst + k0 * width;  // (k0 / 32) * 32 * width
        for (int r = 0; r < width; ++r) {
            const __m512bh both = _mm512_cvtne2ps_pbh(_mm512_load_ps(rows + r * 32 + 16), _mm512_load_ps(rows + r * 32));
            _mm512_storeu_si512(out + r * 32, (__m512i)both);
        }
    }
}

}  // namespace

const MicroKernelInfo kAmx_32x32 = {"amx_32x32", ukernel_amx, MR, NR, 128, 640, 1024, PanelType::BF16_TILES,
                                    to_bf16_tile_pairs_amx, nullptr, to_bf16_tile_rows_amx};

}  // namespace sdref::kernels
