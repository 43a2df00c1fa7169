#include "kernels/cpu.h"

#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace sdref::kernels {

namespace {

#if defined(__x86_64__)
// The OS saves the AMX tile state (XCR0 bits 17 and 18: XTILECFG, XTILEDATA), and Linux (5.16 and later) grants
// this process the tile data once asked: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
bool amx_permitted() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
    constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
}
#endif

CpuFeatures detect() {
    CpuFeatures f;
    const char* cap = std::getenv("SDREF_ISA");
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
    // AMD's cores run vdpbf16ps at twice the FMA's multiply-adds; vendor "AuthenticAMD" in CPUID leaf 0
    const bool amd = __get_cpuid(0, &a, &b, &c, &d) && b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;
    f.bf16_dot_fast = f.avx512_bf16 && amd;
    // AMX-BF16 and AMX-TILE: CPUID leaf 7 subleaf 0, EDX bits 22 and 24
    const bool amx = f.avx512_bf16 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22)) && (d & (1u << 24));
#if defined(__x86_64__)
    if (amx && (!cap || std::strcmp(cap, "amx") == 0)) {  // not asked for when SDREF_ISA caps below it
        f.amx_bf16 = amx_permitted();
        f.amx_refused = !f.amx_bf16;
    }
#endif
#elif defined(__aarch64__)
    f.neon = true;
#if defined(__linux__)
    f.neon_bf16 = (getauxval(AT_HWCAP2) & (1ul << 14)) != 0;  // HWCAP2_BF16
#endif
#endif
    if (cap && std::strcmp(cap, "scalar") == 0) f = CpuFeatures{};
    if (cap && (std::strcmp(cap, "avx2") == 0 || std::strcmp(cap, "avx512") == 0)) {
        CpuFeatures capped;
        capped.avx2 = f.avx2;
        capped.avx512 = f.avx512 && std::strcmp(cap, "avx512") == 0;
        f = capped;
    }
    if (cap && std::strcmp(cap, "avx512bf16") == 0) f.bf16_dot_fast = f.avx512_bf16;
    if (cap && std::strcmp(cap, "amx-oracle") == 0) f.amx_oracle = true;
    if (cap && std::strcmp(cap, "neon") == 0) f.neon_bf16 = false;
    return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

void run_with_passive_omp_waits(char** argv) {
#if defined(__linux__)
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);  // (returns only where it failed: go on as we are)
    unsetenv("OMP_WAIT_POLICY");
#else
    (void)argv;
#endif
}

const char* cpu_isa_name() {
    const CpuFeatures& f = cpu_features();
    if (f.amx_bf16) return "avx512+amx";
    if (f.avx512) return "avx512";
    if (f.avx2) return "avx2";
    if (f.neon) return "neon";
    return "scalar";
}

}  // namespace sdref::kernels
