#include "kernels/cpu.h"

#include <cstdlib>
#include <cstring>

namespace sdref::kernels {

namespace {

CpuFeatures detect() {
    CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#elif defined(__aarch64__)
    f.neon = true;
#endif
    const char* cap = std::getenv("SDREF_ISA");
    if (cap && std::strcmp(cap, "scalar") == 0) f = CpuFeatures{};
    if (cap && std::strcmp(cap, "avx2") == 0) f.avx512 = false;
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
