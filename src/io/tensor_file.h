// tensor_file.h: a file of named tensors, whatever its format: safetensors (io/safetensors.h) or a PyTorch
// zip checkpoint read without running code (io/pytorch_file.h). Every tensor is validated to lie inside the file
// before the constructor returns; views stay valid as long as the file object lives.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace sdref {

class TensorFile {
public:
    virtual ~TensorFile() = default;
    const std::string& path() const { return path_; }
    // Every tensor, sorted by name.
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find(const std::string& name) const;
    // Throws "<file>: no tensor named <name>".
    const TensorView& get(const std::string& name) const;
    // Convenience: get(name).to_f32().
    Tensor load_f32(const std::string& name) const { return get(name).to_f32(); }
    // The file's string metadata (safetensors' "__metadata__"; empty for PyTorch files).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // A metadata value; throws naming the file and key when absent.
    const std::string& meta(const std::string& key) const;
    // Drop the pages of a tensor from memory (read back on the next access) or map them in at once
    // (MappedFile::advise); no-op for tensors held in memory.
    virtual void advise(const TensorView& tensor, PageAdvice advice) const = 0;

protected:
    explicit TensorFile(std::string path) : path_(std::move(path)) {}
    // Sort the tensors by name and index them; duplicate names are an error.
    void index_tensors();

    std::string path_;
    std::vector<TensorView> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// One tensor as bytes in memory: raw little-endian values of `dtype`, product(shape) * dtype_size(dtype) long.
struct TensorRecord {
    std::string name;
    DType dtype;
    Shape shape;
    std::string bytes;
};

// Tensors sdref made in memory (a diffusers folder's q, k and v joined into the original layout's qkv), served like
// a file's; `description` names them in messages.
class MemoryTensorFile : public TensorFile {
public:
    MemoryTensorFile(std::string description, std::vector<TensorRecord> records);
    void advise(const TensorView&, PageAdvice) const override {}

private:
    std::vector<TensorRecord> records_;  // (the views point into their bytes)
};

// A diffusers subfolder's weights: <stem>.safetensors, its .fp16 variant, or the shards a <stem>.safetensors.index.json
// lists (a large T5 or transformer); an error naming the folder when there is none.
std::vector<std::string> diffusers_weight_files(const std::string& dir, const std::string& stem);

// A .safetensors file, or a PyTorch file (.ckpt, .pt, .pth, .bin: a zip archive holding data.pkl), told apart by
// their first bytes; anything else is an error naming the file and what it looks like.
std::unique_ptr<TensorFile> open_tensor_file(const std::string& path);

}  // namespace sdref
