#include "kernels/weight_panels.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

int64_t ceil_div(int64_t x, int64_t d) { return (x + d - 1) / d; }


// The bytes a K x W strided matrix spans, first element to last.
size_t span_bytes(const StridedMatrix& m, int64_t K, int64_t W) {
    return size_t(((K - 1) * m.k_stride + (W - 1) * m.w_stride + 1) * elem_bytes(m.type));
}

}  // namespace

const float* WeightSource::packed_block(const MicroKernelInfo& uk, Side side, int64_t kb) const {
    return panels_ ? panels_->block(uk, side, m_, K_, W_, kb) : nullptr;
}

WeightPanels::Scope::Scope(WeightPanels& panels, const WeightOwner& owner, const MicroKernelInfo& kernel, int64_t budget_bytes)
    : panels_(panels) {
    const MicroKernelInfo* const uk = &kernel;
    for (auto it = panels.packed_.begin(); it != panels.packed_.end();) {
        if (std::get<6>(it->first) == uk) {
            ++it;
            continue;
        }
        panels.bytes_ -= int64_t(it->second->floats * sizeof(float));
        it = panels.packed_.erase(it);
    }
    if (panels.bytes_ > budget_bytes) panels.clear();
    panels.budget_ = budget_bytes;
    panels.owner_ = &owner;
}

WeightPanels::Scope::~Scope() { panels_.owner_ = nullptr; }


WeightPanels::Packed::Packed(size_t n) : floats(n) {
    constexpr size_t kHuge = size_t(2) << 20;
    void* p = nullptr;
    if (::posix_memalign(&p, kHuge, std::max<size_t>(n, 1) * sizeof(float)) != 0) throw std::bad_alloc();
    panels = static_cast<float*>(p);
#ifdef MADV_HUGEPAGE
    if (n * sizeof(float) >= kHuge) ::madvise(p, n * sizeof(float) / kHuge * kHuge, MADV_HUGEPAGE);  // (advice only)
#endif
}

WeightPanels::Packed::~Packed() { std::free(panels); }

void WeightPanels::clear() {
    packed_.clear();
    bytes_ = 0;
}

const float* WeightPanels::block(const MicroKernelInfo& uk, Side side, const StridedMatrix& m, int64_t K, int64_t W,
                                 int64_t kb) {
    const Key key{m.data, int(m.type), m.k_stride, m.w_stride, K, W, &uk, int(side)};
    const int width = side == Side::A ? uk.mr : uk.nr;
    auto it = packed_.find(key);
    if (it == packed_.end()) {
        // new: pack every K block's panels, as gemm() would pack them (threads share the panels), if it is the
        // owner's, no larger than the stored weight and within the budget
        const int64_t KC = gemm_k_block(uk, K), k_blocks = ceil_div(K, KC), panels = ceil_div(W, width);
        const int64_t block_floats = panels * uk.panel_floats(KC, width);
        const int64_t bytes = k_blocks * block_floats * int64_t(sizeof(float));
        const size_t stored = span_bytes(m, K, W);
        if (!owner_ || bytes > int64_t(stored) * 105 / 100 || bytes_ + bytes > budget_ || !owner_->owns(m.data, stored))
            return nullptr;
        auto p = std::make_unique<Packed>(size_t(k_blocks * block_floats));
        p->block_floats = block_floats;
        float* const dst = p->panels;
        const StridedSource src(m);
        const int threads = int(std::min<int64_t>(num_threads(), k_blocks * panels));
#pragma omp parallel for schedule(dynamic) num_threads(threads)
        for (int64_t i = 0; i < k_blocks * panels; ++i) {
            const int64_t b = i / panels, q = i % panels, k0 = b * KC, kc = std::min(KC, K - k0);
            pack_panels(uk, side, src, dst + b * block_floats + q * uk.panel_floats(kc, width), k0, kc, q * width,
                        std::min<int64_t>(width, W - q * width), width);
        }
        owner_->packed(m.data, stored);
        bytes_ += bytes;
        it = packed_.emplace(key, std::move(p)).first;
    }
    return it->second->panels + kb * it->second->block_floats;
}

}  // namespace sdref::kernels
