#include "kernels/cpu.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace sdref::kernels {

namespace {

CpuFeatures detect() {
    CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not know "f16c"
    unsigned a = 0, b = 0, c = 0, d = 0;
    const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    // AVX512_BF16: CPUID leaf 7 subleaf 1, EAX bit 5 (GCC 12's __builtin_cpu_supports has no name for it)
    f.avx512_bf16 = f.avx512 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
#elif defined(__aarch64__)
    f.neon = true;
#if defined(__linux__)
    f.neon_bf16 = (getauxval(AT_HWCAP2) & (1ul << 14)) != 0;  // HWCAP2_BF16
#endif
#endif
    const char* cap = std::getenv("SDREF_ISA");
    if (cap && std::strcmp(cap, "scalar") == 0) f = CpuFeatures{};
    if (cap && std::strcmp(cap, "avx2") == 0) f.avx512 = f.avx512_bf16 = false;
    if (cap && std::strcmp(cap, "avx512") == 0) f.avx512_bf16 = false;
    if (cap && std::strcmp(cap, "neon") == 0) f.neon_bf16 = false;
    return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

const char* cpu_isa_name() {
    const CpuFeatures& f = cpu_features();
    if (f.avx512) return "avx512";
    if (f.avx2) return "avx2";
    if (f.neon) return "neon";
    return "scalar";
}

}  // namespace sdref::kernels
