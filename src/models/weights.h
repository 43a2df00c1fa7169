// weights.h: checkpoint tensors as the models use them, loaded strictly.
//
// A model reads each tensor by its checkpoint name, with the shape it expects; a missing tensor, or one with
// another shape, is an error naming the tensor with both shapes. Large matrices stay in their file (memory-
// mapped, fp16 stays fp16) as Matrix views; vectors (biases, norm scales) are small and converted to fp32.
// What a model never asked for (EMA copies, schedule buffers) can be listed afterwards (`sdref -v`).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/tensor_file.h"
#include "kernels/gemm.h"
#include "kernels/weight_panels.h"

namespace sdref {

// A row-major matrix (or a conv kernel [out, in, kh, kw] seen as [out, in*kh*kw]) in its stored precision.
struct Matrix {
    const void* data = nullptr;
    kernels::ElemType type = kernels::ElemType::F32;
    int64_t rows = 0, cols = 0;
    // The rows [first, first + count) of this matrix (no copy): a slice of a fused projection.
    Matrix row_slice(int64_t first, int64_t count) const;
    // Those rows converted to fp32 into out [count, cols] (an embedding table's lookups).
    void rows_to_f32(int64_t first, int64_t count, float* out) const;
};

// As a kernels::WeightOwner it tells the GEMM's weight panels (kernels/weight_panels.h) which matrices are its own
// (the mapped tensors and owned copies, which stay where they are while the store lives) and gives a mapped
// tensor's pages back once it is packed.
class WeightStore : public kernels::WeightOwner {
public:
    // Maps a canonical (original LDM) tensor name, less the source's prefix, to the name in the file.
    using Renamer = std::function<std::string(const std::string&)>;

    // Open one tensor file (.safetensors, or a PyTorch .ckpt/.pt/.bin read without running code). Canonical names starting with `prefix` are looked up in it, with the prefix
    // removed and `rename` applied (a diffusers folder stores "down_blocks.0.resnets.0.conv1.weight" for the
    // canonical "model.diffusion_model.input_blocks.1.0.in_layers.2.weight").
    void add_file(const std::string& path, const std::string& prefix = "", Renamer rename = nullptr);
    // The same, and the file claims `prefix`: files added later never serve names under it (a separate VAE
    // replaces the checkpoint's whole VAE, never part of it).
    void add_file_claiming(const std::string& path, const std::string& prefix, Renamer rename = nullptr);
    // The same with a tensor file already open (a MemoryTensorFile of tensors made at load).
    void add_file(std::unique_ptr<TensorFile> file, const std::string& prefix = "", Renamer rename = nullptr);

    // A training checkpoint's EMA weights for the U-Net: model.diffusion_model.X reads model_ema.diffusion_modelX'
    // (X' = X without its dots, the original layout's EMA naming) from the last file added. An error when that file
    // has no EMA copy. The trained weights it shadows are then listed as unused.
    void use_ema_weights();

    // Replace a tensor's values by an owned fp32 copy of the same shape (a merged LoRA: rounding it back to fp16,
    // as A1111 does, moves a layer's output by ~3e-4, beyond the reference's tolerance): every later read of the
    // stored tensor it resolves to sees it, under whichever name (canonical, or as names() lists it). The file's
    // pages of the original are given back.
    void set_owned(const std::string& name, Tensor values);
    // How many bytes the owned copies take.
    int64_t owned_bytes() const;

    bool has(const std::string& name) const;
    // Count a tensor as used though no model reads it under this name (its values reach a model another way: a
    // diffusers folder's q, k and v, joined at load).
    void mark_used(const std::string& name) const;
    // The shape of a tensor (throws naming it when absent).
    Shape shape_of(const std::string& name) const;
    // A matrix with exactly this shape (2-D, or 4-D conv weights flattened to [shape[0], rest]).
    Matrix matrix(const std::string& name, const Shape& expected) const;
    // A tensor converted to fp32, with exactly this shape.
    Tensor vector(const std::string& name, const Shape& expected) const;
    // Drop the memory pages of every tensor under a canonical prefix ("model.diffusion_model."): a model done for
    // now gives its resident memory back; its weights are read again (page cache or disk) when next used.
    void release(const std::string& prefix) const;
    // Map in the pages of every tensor under a prefix in one call each (--low-memory, before a layer runs).
    void populate(const std::string& prefix) const;
    // The stored bytes of every tensor under a canonical prefix.
    int64_t bytes(const std::string& prefix) const;
    // Every tensor under a canonical prefix that holds NaN or Inf, as "file: name (N of M values)".
    std::vector<std::string> non_finite(const std::string& prefix) const;
    // Every tensor (as "file: name") that no model asked for.
    std::vector<std::string> unused() const;
    // Every canonical-prefixed name of the sources whose prefix covers `prefix`, as stored (for counting layers
    // in files without renaming).
    std::vector<std::string> names(const std::string& prefix = "") const;
    std::string describe() const;  // the file(s), for messages
    // A "__metadata__" value from any of the files ("" when none has it).
    std::string metadata(const std::string& key) const;

    bool owns(const void* data, size_t bytes) const override;
    void packed(const void* data, size_t bytes) const override;

private:
    const TensorView& view(const std::string& name, const Shape& expected) const;
    // The source whose mapped tensor holds the bytes [data, data + bytes), or -1 (then `owned` says whether an
    // owned copy does).
    int64_t holder(const void* data, size_t bytes, bool* owned) const;
    // The file and stored name of a canonical name, or nullptr.
    const TensorView* locate(const std::string& name, size_t* source) const;

    struct Source {
        std::unique_ptr<TensorFile> file;
        std::string prefix;
        Renamer rename;
        std::unordered_map<std::string, std::string> redirect;   // canonical name -> stored name (EMA)
        std::unordered_map<std::string, std::string> canonical;  // stored name -> canonical name, for the redirected
        bool claims = false;                                      // names under `prefix` are this file's alone
    };
    // Whether an earlier source than `index` claims this canonical name.
    bool claimed_before(size_t index, const std::string& name) const;
    // The canonical name of a stored tensor ("" when a redirect shadows it).
    std::string canonical_name(const Source& s, const std::string& stored) const;
    std::vector<Source> sources_;
    // f(source, tensor) for every tensor whose canonical name starts with `prefix` (stored names for renamed sources).
    void for_each_under(const std::string& prefix, const std::function<void(const Source&, const TensorView&)>& f) const;
    mutable std::set<std::pair<size_t, std::string>> used_;  // (source, stored name)
    std::map<std::pair<size_t, std::string>, std::pair<Tensor, TensorView>> owned_;  // (source, stored name) -> values, view
};

}  // namespace sdref
