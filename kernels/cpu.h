// cpu.h: which instruction sets this processor runs, detected once at start-up.
//
// Every SIMD kernel is compiled for its own ISA in its own file (convert_f16c.cpp, ...) and chosen at run time
// from these flags, so one binary runs on any x86-64 or aarch64 machine and takes the fastest path it has.
// SDREF_ISA=scalar|avx2|avx512|avx512bf16|amx (x86), scalar|neon|neonbf16 (aarch64) in the environment caps the
// choice (tests use it to compare the paths); SDREF_ISA=avx512bf16 also takes AVX512_BF16 for bf16 where it is
// no faster than fp32; SDREF_ISA=amx-oracle runs bf16's products through the scalar oracle of AMX's tile arithmetic
// (BF16_TILES, ukernel.h): the bits an AMX machine gives, slowly, on any CPU (the bf16 accuracy of AMX, measured
// where there is no AMX).
#pragma once

namespace sdref::kernels {

struct CpuFeatures {
    bool avx2 = false;     // x86: AVX2 with FMA3 and F16C (Haswell and later)
    bool avx512 = false;   // x86: AVX-512 F, BW, DQ, VL (Skylake-SP and later)
    bool avx512_bf16 = false;  // x86: AVX512_BF16 on top of that (Cooper Lake, Sapphire Rapids, Zen 4 and later)
    // x86: vdpbf16ps does twice an FMA's multiply-adds per cycle, so bf16 beats fp32 (AMD Zen 4 and Zen 5); on
    // Intel cores it issues once a cycle, the FMAs twice: no faster than fp32 once the rounding is paid for
    bool bf16_dot_fast = false;
    bool amx_bf16 = false;     // x86: AMX-TILE and AMX-BF16 (Sapphire Rapids and later), and Linux let us use them
    bool amx_refused = false;  // x86: the CPU has them but Linux refused this process the tile data state
    bool amx_oracle = false;   // SDREF_ISA=amx-oracle: bf16 through the AMX contract's scalar oracle
    bool neon = false;     // aarch64: Advanced SIMD with fp16 conversion (every aarch64 core)
    bool neon_bf16 = false;  // aarch64: the BF16 extension on top of that (FEAT_BF16: BFMLALB/BFMLALT)
};

// The features of this processor, less whatever SDREF_ISA switches off.
const CpuFeatures& cpu_features();

// OpenMP's idle threads wait for work by spinning (libgomp reads OMP_WAIT_POLICY once, as it loads, before main):
// beside another busy process a spinning thread takes the core the thread it waits for needs (a generation took 3x
// its time alone on 2 cores). The kernels start few enough parallel regions (threads_for) that sleeping costs
// nothing measurable alone, so a program calls this first thing in main(): unless the user set OMP_WAIT_POLICY or
// GOMP_SPINCOUNT, it runs itself again (execv of /proc/self/exe, same arguments) with OMP_WAIT_POLICY=passive.
// Returns (and the program goes on as it is) where that cannot be done.
void run_with_passive_omp_waits(char** argv);

// "avx512", "avx2", "neon" or "scalar": the best path in use, for logs and benchmark labels.
const char* cpu_isa_name();

}  // namespace sdref::kernels
