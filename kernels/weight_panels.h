// weight_panels.h: a model's weights packed once into the micro-kernel's panels, for every call of its sampling loops.
//
// gemm() packs both operands block by block on every call (gemm.cpp). A weight is the same on every call of a
// sampling loop, yet packing it (a gather across rows, fp16 -> fp32, and for bf16 the rounding into pairs) is about
// a sixth of a bf16 U-Net call. While a WeightPanels store is in use (a Scope), every weight that gemm() reads
// through a WeightSource, and that the store's owner says lives as long as the store, is packed the first time in
// the active micro-kernel's layout; later calls read the panels where they are, and the owner may give the
// weight's own pages back. The panels hold exactly the values the per-call packing makes, so the results have the
// same bits either way. A weight is packed only when its panels take no more memory than its stored copy (bf16
// pairs of an fp16 or bf16 file, fp32 panels of an fp32 one), and within the scope's byte budget; any other weight
// is packed on every call, as before.
//
// Layout of one packed weight, operand A (panels MR wide) or B (NR wide) of a K-deep product over W columns: for
// each K block kb (gemm_k_block(uk, K) steps, the last one shorter), ceil(W / width) panels of
// uk.panel_floats(kc, width) floats, in column order; block(kb) points at its first panel.
//
// A store belongs to one model and is used by one generation at a time (not locked); the products reach it through
// the WeightSources the backend that packs into it makes (backend.h: Backend::packing_into), never through a global.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "kernels/gemm.h"

namespace sdref::kernels {

struct MicroKernelInfo;

class WeightPanels;

// A weight matrix as a GEMM operand: K x W, packed from memory on each call, or read from `panels` when that
// store is packing (nullptr: always packed per call).
class WeightSource : public PanelSource {
public:
    WeightSource(const StridedMatrix& m, int64_t K, int64_t W, WeightPanels* panels = nullptr)
        : m_(m), source_(m), K_(K), W_(W), panels_(panels) {}
    void pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const override {
        source_.pack(dst, k0, kc, w0, w, width);
    }
    const float* packed_block(const MicroKernelInfo& uk, Side side, int64_t kb) const override;

private:
    StridedMatrix m_;
    StridedSource source_;
    int64_t K_, W_;
    WeightPanels* panels_;
};

// Where weights live: a model's weight store answers for its own.
class WeightOwner {
public:
    virtual ~WeightOwner() = default;
    // Whether the bytes [data, data + bytes) are one of this owner's weights, kept at that address while it lives.
    virtual bool owns(const void* data, size_t bytes) const = 0;
    // Those bytes are packed now: their pages may go back to the system (read again if ever needed).
    virtual void packed(const void* data, size_t bytes) const = 0;
};

class WeightPanels {
public:
    WeightPanels() = default;
    WeightPanels(const WeightPanels&) = delete;
    WeightPanels& operator=(const WeightPanels&) = delete;

    // The store packs from construction to destruction, for the owner's weights, for micro-kernel uk, at most
    // budget_bytes of panels: what it holds beyond that, or for another micro-kernel, is dropped first.
    class Scope {
    public:
        Scope(WeightPanels& panels, const WeightOwner& owner, const MicroKernelInfo& uk, int64_t budget_bytes);
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        WeightPanels& panels_;
    };

    void clear();
    int64_t bytes() const { return bytes_; }
    int64_t weights() const { return int64_t(packed_.size()); }

    // The packed panels of a weight (packing it now if it is new, its owner's and fits), K block kb; or nullptr.
    const float* block(const MicroKernelInfo& uk, Side side, const StridedMatrix& m, int64_t K, int64_t W, int64_t kb);

private:
    // One weight's panels, 2 MB aligned in transparent huge pages where the system allows (a U-Net's 1.7 GB of
    // fresh pages cost seconds of page faults at 4 KB each).
    struct Packed {
        explicit Packed(size_t floats);
        ~Packed();
        Packed(const Packed&) = delete;
        Packed& operator=(const Packed&) = delete;
        float* panels = nullptr;
        size_t floats = 0;
        int64_t block_floats = 0;  // floats per K block (all of them full blocks but the last)
    };
    using Key = std::tuple<const void*, int, int64_t, int64_t, int64_t, int64_t, const MicroKernelInfo*, int>;  // ..., kernel, side
    std::map<Key, std::unique_ptr<Packed>> packed_;
    int64_t bytes_ = 0;
    int64_t budget_ = 0;                 // of the scope in use
    const WeightOwner* owner_ = nullptr;  // of the scope in use
};

}  // namespace sdref::kernels
