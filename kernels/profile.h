// profile.h: where a run's time goes, by kind of kernel call. Off unless a caller turns it on (the benchmark's
// --profile); then every entry point of the kernel library times itself and counts its arithmetic.
//
// Only the outermost timed call counts (conv2d's gemm() is the convolution's time, not a second entry), so the
// kinds add up to the time spent inside the kernel library; what a model's code does between calls (allocating
// and zeroing tensors, its own loops) is the rest of the wall time. Calls are timed on the calling thread, with
// the OpenMP regions inside them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sdref::kernels {

enum class ProfileKind { Conv3x3, Conv1x1, Gemm, Attention, GroupNorm, LayerNorm, Elementwise, Copy, Count };
const char* profile_kind_name(ProfileKind k);

struct ProfileEntry {
    double seconds = 0, flops = 0;  // flops: 2 per multiply-add of the products
    int64_t calls = 0;
};
using Profile = std::array<ProfileEntry, std::size_t(ProfileKind::Count)>;

void set_profiling(bool on);
// What was recorded since the last call (or since profiling was turned on); clears it.
Profile take_profile();

// Times the enclosing kernel call as `kind` when profiling is on and no other timed call encloses it.
class ProfileScope {
public:
    ProfileScope(ProfileKind kind, double flops);
    ~ProfileScope();
    ProfileScope(const ProfileScope&) = delete;
    ProfileScope& operator=(const ProfileScope&) = delete;

private:
    int kind_ = -1;  // -1: not recording
    double flops_ = 0;
    int64_t start_ns_ = 0;
};

}  // namespace sdref::kernels
