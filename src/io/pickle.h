// pickle.h: a Python pickle reader that builds data and never runs code, for the pickles inside PyTorch files.
//
// A pickle is a program for a stack machine; its GLOBAL and REDUCE opcodes look up any Python callable by name
// and call it, which is how a naive torch.load of a malicious .ckpt runs `os.system(...)`. This machine knows the
// data-building opcodes (protocols 0-5: numbers, strings, tuples, lists, dicts, memo) and accepts as globals only
// what PyTorch's weights_only=True unpickler accepts for weight files — the tensor and parameter rebuild
// functions, the typed storages, collections.OrderedDict and _codecs.encode — each of which it interprets
// itself, building a value. Any other global is an error naming it, before anything is called. Objects live in an
// arena (no recursion when freed, cycles are harmless); sizes and counts are bounded by the input's length.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace sdref {

struct PyObject {
    enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Mark };
    Kind kind = Kind::None;
    int64_t i = 0;                  // Bool, Int
    double f = 0;                   // Float
    std::string s;                  // Str, Bytes, Global ("module.name"), Storage (its key in the archive)
    std::vector<PyObject*> items;   // Tuple, List
    std::vector<std::pair<PyObject*, PyObject*>> dict;  // Dict, in insertion order
    // Storage: element type and count. Tensor: its storage, offset (elements), shape and strides.
    DType dtype = DType::F32;
    int64_t numel = 0;
    PyObject* storage = nullptr;
    int64_t offset = 0;
    Shape shape, stride;

    const PyObject* get(const std::string& key) const;  // Dict lookup by a Str key, nullptr when absent
};

const char* py_kind_name(PyObject::Kind kind);

class Pickle {
public:
    // Run the pickle `bytes`; `source` names it in errors ("model.ckpt: archive/data.pkl").
    Pickle(const std::string& bytes, const std::string& source);
    Pickle(const Pickle&) = delete;
    Pickle& operator=(const Pickle&) = delete;

    const PyObject& root() const { return *root_; }

private:
    std::deque<PyObject> arena_;
    PyObject* root_ = nullptr;
};

}  // namespace sdref
