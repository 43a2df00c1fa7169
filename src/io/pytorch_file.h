// pytorch_file.h: PyTorch's torch.save format (.ckpt, .pt, .pth, .bin), read without running code.
//
// Since PyTorch 1.6 the file is a zip archive (io/zip.h):
//   NAME/data.pkl     the pickled object (io/pickle.h): usually a dict of tensors, or {"state_dict": {...}, ...}
//   NAME/data/KEY     one storage per key: the raw little-endian elements that tensors view
//   NAME/version, NAME/byteorder
// A tensor in the pickle is _rebuild_tensor_v2(storage, offset, size, stride); its bytes are the storage's from
// `offset`, read in place from the mapped file for stored (uncompressed) entries, copied for deflated ones and
// for non-contiguous strides. Every range is checked against its storage and the file.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/tensor_file.h"
#include "io/zip.h"

namespace sdref {

class PyTorchFile : public TensorFile {
public:
    explicit PyTorchFile(const std::string& path);

    // The whole unpickled object (add-ons read their settings from it: a hypernetwork's layer structure, an
    // embedding's name).
    const PyObject& root() const { return pickle_->root(); }
    // The name a tensor object in root() has in tensors() (its dotted path), or "" when it is not one of them.
    std::string tensor_name(const PyObject* tensor) const;
    void advise(const TensorView& tensor, PageAdvice advice) const override;

private:
    // The bytes of a tensor object: in place, or a copy kept in owned_.
    const uint8_t* tensor_bytes(const PyObject& t, const std::string& name);
    void collect(const PyObject& o, const std::string& name, int depth);

    MappedFile file_;
    std::unique_ptr<ZipArchive> zip_;
    std::unique_ptr<Pickle> pickle_;
    std::string prefix_;                                 // "NAME/"
    std::map<std::string, std::string> inflated_;        // storage key -> inflated bytes (deflated entries)
    std::deque<std::string> owned_;                      // copies of non-contiguous tensors
    std::map<const PyObject*, std::string> names_;       // tensor object -> its name
};

}  // namespace sdref
