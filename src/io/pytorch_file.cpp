#include "io/pytorch_file.h"

#include <cstring>

#include "core/error.h"

namespace sdref {

namespace {

constexpr uint64_t kMaxPickleBytes = 1ull << 30;
constexpr int kMaxDepth = 32;

}  // namespace

PyTorchFile::PyTorchFile(const std::string& path) : TensorFile(path), file_(path) {
    zip_ = std::make_unique<ZipArchive>(file_.data(), file_.size(), path);
    const ZipEntry* pkl = nullptr;
    for (const ZipEntry& e : zip_->entries()) {
        const size_t slash = e.name.find('/');
        if (slash != std::string::npos && e.name.substr(slash + 1) == "data.pkl") {
            if (pkl) fail(path, ": two data.pkl entries (", pkl->name, ", ", e.name, ")");
            pkl = &e;
            prefix_ = e.name.substr(0, slash + 1);
        }
    }
    if (!pkl) fail(path, ": a zip archive without NAME/data.pkl: not a PyTorch file");
    pickle_ = std::make_unique<Pickle>(zip_->read(*pkl, kMaxPickleBytes), path + ": " + pkl->name);
    // a checkpoint's weights are under "state_dict" when it has one; everything else is named by its path
    const PyObject& root = pickle_->root();
    const PyObject* state = root.kind == PyObject::Kind::Dict ? root.get("state_dict") : nullptr;
    collect(state && state->kind == PyObject::Kind::Dict ? *state : root, "", 0);
    index_tensors();
}

void PyTorchFile::collect(const PyObject& o, const std::string& name, int depth) {
    using Kind = PyObject::Kind;
    if (depth > kMaxDepth) fail(path(), ": objects nested more than ", kMaxDepth, " deep at \"", name, "\"");
    auto child = [&](const std::string& key) { return name.empty() ? key : name + "." + key; };
    switch (o.kind) {
        case Kind::Dict:
            for (const auto& [k, v] : o.dict) {
                if (k->kind == Kind::Str) collect(*v, child(k->s), depth + 1);
                else if (k->kind == Kind::Int) collect(*v, child(std::to_string(k->i)), depth + 1);
            }
            break;
        case Kind::List:
        case Kind::Tuple:
            for (size_t i = 0; i < o.items.size(); ++i) collect(*o.items[i], child(std::to_string(i)), depth + 1);
            break;
        case Kind::Tensor: {
            if (names_.count(&o)) break;  // the same tensor object reached twice (a shared reference)
            TensorView v;
            v.name = name;
            v.dtype = o.dtype;
            v.shape = o.shape;
            v.nbytes = size_t(v.numel()) * dtype_size(v.dtype);
            v.bytes = tensor_bytes(o, name);
            names_[&o] = name;
            tensors_.push_back(std::move(v));
            break;
        }
        default: break;  // numbers, strings, ...: settings, not weights
    }
}

const uint8_t* PyTorchFile::tensor_bytes(const PyObject& t, const std::string& name) {
    const std::string where = path() + ": tensor \"" + name + "\"";
    const PyObject& s = *t.storage;
    const ZipEntry* e = zip_->find(prefix_ + "data/" + s.s);
    if (!e) fail(where, ": its storage ", prefix_, "data/", s.s, " is not in the archive");
    const size_t elem = dtype_size(t.dtype);
    if (uint64_t(s.numel) > e->size / elem) fail(where, ": storage ", s.s, " claims ", s.numel, " elements, its entry holds ", e->size, " bytes");
    const uint8_t* base;
    if (e->method == 0) {
        base = zip_->stored_bytes(*e);
    } else {
        auto it = inflated_.find(s.s);
        if (it == inflated_.end()) it = inflated_.emplace(s.s, zip_->read(*e, e->size)).first;
        base = reinterpret_cast<const uint8_t*>(it->second.data());
    }
    // the elements it reaches: offset + sum (size_i - 1) stride_i must lie inside the storage
    const int64_t n = shape_numel(t.shape);
    if (n == 0) return base;
    int64_t last = t.offset;
    bool contiguous = true;
    int64_t expect = 1;
    for (size_t d = t.shape.size(); d-- > 0;) {
        last += (t.shape[d] - 1) * t.stride[d];
        if (t.shape[d] != 1 && t.stride[d] != expect) contiguous = false;
        expect *= t.shape[d];
    }
    if (last >= s.numel) fail(where, ": reaches element ", last, " of a storage of ", s.numel);
    if (contiguous) return base + size_t(t.offset) * elem;
    // a strided view: gather its elements in row-major order
    std::string& copy = owned_.emplace_back(size_t(n) * elem, '\0');
    std::vector<int64_t> index(t.shape.size(), 0);
    for (int64_t i = 0; i < n; ++i) {
        int64_t at = t.offset;
        for (size_t d = 0; d < index.size(); ++d) at += index[d] * t.stride[d];
        std::memcpy(&copy[size_t(i) * elem], base + size_t(at) * elem, elem);
        for (size_t d = index.size(); d-- > 0;) {
            if (++index[d] < t.shape[d]) break;
            index[d] = 0;
        }
    }
    return reinterpret_cast<const uint8_t*>(copy.data());
}

std::string PyTorchFile::tensor_name(const PyObject* tensor) const {
    const auto it = names_.find(tensor);
    return it == names_.end() ? "" : it->second;
}

void PyTorchFile::advise(const TensorView& tensor, PageAdvice advice) const {
    const uint8_t* begin = file_.data();
    if (tensor.bytes >= begin && tensor.bytes < begin + file_.size()) file_.advise(size_t(tensor.bytes - begin), tensor.nbytes, advice);
}

}  // namespace sdref
