#include "models/conditioner_sd3.h"

#include <algorithm>

#include "core/error.h"

namespace sdref {

Sd3Conditioning assemble_sd3_conditioning(const Tensor& l, const Tensor& g, const Tensor& l_pooled, const Tensor& g_pooled,
                                          const Tensor& t5, int64_t width) {
    const int64_t n = l.dim(0), dl = l.dim(1), dg = g.dim(1);
    if (g.dim(0) != n) fail("SD3 conditioning: CLIP-L gives ", n, " tokens, CLIP-G ", g.dim(0));
    if (dl + dg > width) fail("SD3 conditioning: the CLIP widths ", dl, " + ", dg, " exceed T5's ", width);
    if (t5.numel() && t5.dim(1) != width) fail("SD3 conditioning: the T5 states are ", t5.dim(1), " wide, expected ", width);
    const int64_t t = t5.numel() ? t5.dim(0) : n;  // (no T5: zeros of the CLIP length)
    Sd3Conditioning c{Tensor({n + t, width}), Tensor({l_pooled.numel() + g_pooled.numel()})};
    for (int64_t i = 0; i < n; ++i) {
        std::copy_n(l.data() + i * dl, dl, c.context.data() + i * width);
        std::copy_n(g.data() + i * dg, dg, c.context.data() + i * width + dl);  // (the rest of the row stays zero)
    }
    if (t5.numel()) std::copy_n(t5.data(), t5.numel(), c.context.data() + n * width);
    std::copy_n(l_pooled.data(), l_pooled.numel(), c.pooled.data());
    std::copy_n(g_pooled.data(), g_pooled.numel(), c.pooled.data() + l_pooled.numel());
    return c;
}

}  // namespace sdref
