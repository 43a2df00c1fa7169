#include "kernels/profile.h"

#include <chrono>

namespace sdref::kernels {

namespace {

bool g_on = false;
Profile g_profile;
thread_local int t_depth = 0;  // timed calls open on this thread

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* profile_kind_name(ProfileKind k) {
    switch (k) {
        case ProfileKind::Conv3x3: return "convolution 3x3 (implicit GEMM)";
        case ProfileKind::Conv1x1: return "convolution 1x1";
        case ProfileKind::Gemm: return "linear layers (GEMM)";
        case ProfileKind::Attention: return "attention (QK^T, softmax, PV)";
        case ProfileKind::GroupNorm: return "group norm";
        case ProfileKind::LayerNorm: return "layer norm";
        case ProfileKind::Elementwise: return "element-wise (GEGLU, activations, add)";
        case ProfileKind::Copy: return "copies (concat, upsample)";
        case ProfileKind::Count: break;
    }
    return "?";
}

void set_profiling(bool on) {
    g_on = on;
    g_profile = {};
}

Profile take_profile() {
    const Profile p = g_profile;
    g_profile = {};
    return p;
}

ProfileScope::ProfileScope(ProfileKind kind, double flops) {
    if (!g_on || t_depth++ > 0) return;
    kind_ = int(kind);
    flops_ = flops;
    start_ns_ = now_ns();
}

ProfileScope::~ProfileScope() {
    if (!g_on) return;
    --t_depth;
    if (kind_ < 0) return;
    ProfileEntry& e = g_profile[size_t(kind_)];
    e.seconds += double(now_ns() - start_ns_) * 1e-9;
    e.flops += flops_;
    ++e.calls;
}

}  // namespace sdref::kernels
