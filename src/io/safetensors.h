// safetensors.h: reader (memory-mapped, validated before any tensor is touched) and writer of the safetensors
// format: an 8-byte little-endian header length N, N bytes of JSON, then the raw little-endian tensor data.
//
//   { "__metadata__": {"key": "string", ...},
//     "name": {"dtype": "F16", "shape": [320, 4, 3, 3], "data_offsets": [begin, end]}, ... }
//
// Offsets are relative to the start of the data section (byte 8 + N). The reader checks, for every tensor and
// before returning: the header lies inside the file and is a JSON object; the dtype is known; the shape is a list
// of non-negative integers; end - begin == product(shape) * dtype size; the range lies inside the data section;
// no two tensors overlap; names are unique. Every violation is an sdref::Error naming the file and the tensor,
// so a malformed file can never make the engine read outside the mapping.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"
#include "io/tensor_file.h"

namespace sdref {

class SafetensorsFile : public TensorFile {
public:
    // The format's own cap on the header (the Python and Rust readers use the same 100 MB).
    static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

    explicit SafetensorsFile(const std::string& path);
    void advise(const TensorView& tensor, PageAdvice advice) const override {
        file_.advise(size_t(tensor.bytes - file_.data()), tensor.nbytes, advice);
    }

private:
    MappedFile file_;
};

TensorRecord make_record(const std::string& name, const Tensor& t);  // an fp32 tensor as an F32 record

// Write a safetensors file: header padded with spaces to a multiple of 8 bytes, tensors in the given order.
// The file appears under `path` only when complete (written to a temporary name, then renamed).
void write_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same with each tensor's bytes made only when it is written (the records' own bytes are not used): a file
// larger than memory (tools/make_random_checkpoint's SD 3.5 Large).
void write_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors, const std::map<std::string, std::string>& metadata,
                       const std::function<std::string(size_t index)>& bytes_of);

}  // namespace sdref
