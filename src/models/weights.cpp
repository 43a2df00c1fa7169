#include "models/weights.h"

#include <cstring>

#include "core/error.h"
#include "kernels/convert.h"

namespace sdref {

Matrix Matrix::row_slice(int64_t first, int64_t count) const {
    const size_t elem = size_t(kernels::elem_bytes(type));
    Matrix m = *this;
    m.data = static_cast<const uint8_t*>(data) + size_t(first * cols) * elem;
    m.rows = count;
    return m;
}

void Matrix::rows_to_f32(int64_t first, int64_t count, float* out) const {
    kernels::convert_to_f32(type, static_cast<const uint8_t*>(data) + size_t(first * cols * kernels::elem_bytes(type)), out,
                            size_t(count * cols));
}

void WeightStore::add_file(const std::string& path, const std::string& prefix, Renamer rename) {
    add_file(open_tensor_file(path), prefix, std::move(rename));
}

void WeightStore::add_file(std::unique_ptr<TensorFile> file, const std::string& prefix, Renamer rename) {
    Source s;
    s.file = std::move(file);
    s.prefix = prefix;
    s.rename = std::move(rename);
    sources_.push_back(std::move(s));
}

void WeightStore::add_file_claiming(const std::string& path, const std::string& prefix, Renamer rename) {
    add_file(path, prefix, std::move(rename));
    sources_.back().claims = true;
}

bool WeightStore::claimed_before(size_t index, const std::string& name) const {
    for (size_t j = 0; j < index; ++j)
        if (sources_[j].claims && name.rfind(sources_[j].prefix, 0) == 0) return true;
    return false;
}

void WeightStore::use_ema_weights() {
    if (sources_.empty()) fail("--use-ema: no checkpoint loaded");
    Source& s = sources_.back();
    const std::string unet = "model.diffusion_model.";
    for (const TensorView& v : s.file->tensors()) {
        if (v.name.rfind(unet, 0) != 0) continue;
        std::string ema = "model_ema.diffusion_model";
        for (char c : v.name.substr(unet.size()))
            if (c != '.') ema += c;
        if (!s.file->find(ema)) continue;
        s.redirect[v.name] = ema;
        s.canonical[ema] = v.name;
    }
    if (s.redirect.empty())
        fail(s.file->path(), ": --use-ema: the file has no EMA weights (model_ema.diffusion_model*): it is a pruned or EMA-only "
             "checkpoint, whose weights are used as they are without --use-ema");
}

std::string WeightStore::canonical_name(const Source& s, const std::string& stored) const {
    std::string name = s.prefix + stored;
    if (!s.redirect.empty()) {
        if (const auto it = s.canonical.find(stored); it != s.canonical.end()) name = it->second;
        else if (s.redirect.count(stored)) return "";
    }
    return claimed_before(size_t(&s - sources_.data()), name) ? "" : name;
}

const TensorView* WeightStore::locate(const std::string& name, size_t* source) const {
    for (size_t i = 0; i < sources_.size(); ++i) {
        const Source& s = sources_[i];
        if (claimed_before(i, name)) continue;
        if (const auto it = s.redirect.find(name); it != s.redirect.end()) {
            *source = i;
            return s.file->find(it->second);
        }
        if (name.rfind(s.prefix, 0) != 0) continue;
        const std::string local = name.substr(s.prefix.size());
        if (const TensorView* v = s.file->find(s.rename ? s.rename(local) : local)) {
            *source = i;
            return v;
        }
    }
    return nullptr;
}

bool WeightStore::has(const std::string& name) const {
    size_t source;
    return locate(name, &source) != nullptr;
}

std::string WeightStore::describe() const {
    std::string d;
    for (const Source& s : sources_) d += (d.empty() ? "" : ", ") + s.file->path();
    return d;
}

std::string WeightStore::metadata(const std::string& key) const {
    for (const Source& s : sources_) {
        const auto it = s.file->metadata().find(key);
        if (it != s.file->metadata().end()) return it->second;
    }
    return "";
}

Shape WeightStore::shape_of(const std::string& name) const {
    size_t source;
    if (const TensorView* v = locate(name, &source)) return v->shape;
    fail(describe(), ": missing tensor \"", name, "\"");
}

const TensorView& WeightStore::view(const std::string& name, const Shape& expected) const {
    size_t source;
    const TensorView* v = locate(name, &source);
    if (!v) fail(describe(), ": missing tensor \"", name, "\" (expected shape ", shape_str(expected), ")");
    if (v->shape != expected)
        fail(sources_[source].file->path(), ": tensor \"", v->name, "\" has shape ", shape_str(v->shape), ", expected ",
             shape_str(expected));
    used_.insert({source, v->name});
    if (const auto it = owned_.find({source, v->name}); it != owned_.end()) return it->second.second;
    return *v;
}

void WeightStore::mark_used(const std::string& name) const {
    size_t source;
    if (const TensorView* v = locate(name, &source)) used_.insert({source, v->name});
}

void WeightStore::set_owned(const std::string& name, Tensor values) {
    size_t source;
    const TensorView* stored = locate(name, &source);
    if (!stored) fail(describe(), ": missing tensor \"", name, "\"");
    if (stored->shape != values.shape())
        fail(describe(), ": tensor \"", name, "\" is ", shape_str(stored->shape), ", its replacement ", shape_str(values.shape()));
    auto& [t, v] = owned_[{source, stored->name}];
    t = std::move(values);
    v.name = name;
    v.dtype = DType::F32;
    v.shape = t.shape();
    v.bytes = reinterpret_cast<const uint8_t*>(t.data());
    v.nbytes = size_t(t.numel()) * 4;
    sources_[source].file->advise(*stored, PageAdvice::Release);
}

int64_t WeightStore::owned_bytes() const {
    int64_t total = 0;
    for (const auto& [name, o] : owned_) total += int64_t(o.second.nbytes);
    return total;
}

Matrix WeightStore::matrix(const std::string& name, const Shape& expected) const {
    const TensorView& v = view(name, expected);
    Matrix m;
    m.data = v.bytes;
    switch (v.dtype) {
        case DType::F32: m.type = kernels::ElemType::F32; break;
        case DType::F16: m.type = kernels::ElemType::F16; break;
        case DType::BF16: m.type = kernels::ElemType::BF16; break;
        case DType::F8_E4M3: m.type = kernels::ElemType::F8E4M3; break;
        default: fail(describe(), ": tensor \"", name, "\" is ", dtype_name(v.dtype), "; weights must be F32, F16, BF16 or F8_E4M3");
    }
    m.rows = expected.at(0);
    m.cols = expected.size() > 1 ? shape_numel(expected) / expected[0] : 1;
    return m;
}

Tensor WeightStore::vector(const std::string& name, const Shape& expected) const { return view(name, expected).to_f32(); }

void WeightStore::release(const std::string& prefix) const {
    for_each_under(prefix, [](const Source& s, const TensorView& v) { s.file->advise(v, PageAdvice::Release); });
}

int64_t WeightStore::holder(const void* data, size_t bytes, bool* owned) const {
    const auto* p = static_cast<const uint8_t*>(data);
    auto within = [&](const TensorView& v) { return p >= v.bytes && p + bytes <= v.bytes + v.nbytes; };
    *owned = false;
    for (const auto& [key, o] : owned_)
        if (within(o.second)) return *owned = true, -1;
    for (size_t s = 0; s < sources_.size(); ++s)
        for (const TensorView& v : sources_[s].file->tensors())
            if (within(v)) return int64_t(s);
    return -1;
}

bool WeightStore::owns(const void* data, size_t bytes) const {
    bool owned;
    return holder(data, bytes, &owned) >= 0 || owned;
}

void WeightStore::packed(const void* data, size_t bytes) const {
    bool owned;
    const int64_t s = holder(data, bytes, &owned);
    if (s < 0) return;  // an owned copy stays: it is the only one
    TensorView range;
    range.bytes = static_cast<const uint8_t*>(data);
    range.nbytes = bytes;
    sources_[size_t(s)].file->advise(range, PageAdvice::Release);
}

void WeightStore::populate(const std::string& prefix) const {
    for_each_under(prefix, [](const Source& s, const TensorView& v) { s.file->advise(v, PageAdvice::Populate); });
}

std::vector<std::string> WeightStore::names(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const Source& s : sources_)
        for (const TensorView& v : s.file->tensors()) {
            const std::string full = canonical_name(s, v.name);
            if (!full.empty() && full.rfind(prefix, 0) == 0) out.push_back(full);
        }
    return out;
}

void WeightStore::for_each_under(const std::string& prefix, const std::function<void(const Source&, const TensorView&)>& f) const {
    for (const Source& s : sources_)
        for (const TensorView& v : s.file->tensors())
            if (const std::string full = canonical_name(s, v.name);
                (!full.empty() && full.rfind(prefix, 0) == 0) || (s.prefix.rfind(prefix, 0) == 0 && !s.prefix.empty()))
                f(s, v);
}

int64_t WeightStore::bytes(const std::string& prefix) const {
    int64_t total = 0;
    for_each_under(prefix, [&](const Source&, const TensorView& v) { total += int64_t(v.nbytes); });
    return total;
}

std::vector<std::string> WeightStore::non_finite(const std::string& prefix) const {
    std::vector<std::string> out;
    for_each_under(prefix, [&](const Source& s, const TensorView& v) {
        if (const int64_t bad = v.count_non_finite())
            out.push_back(s.file->path() + ": " + v.name + " (" + std::to_string(bad) + " of " + std::to_string(v.numel()) + " values)");
    });
    return out;
}

std::vector<std::string> WeightStore::unused() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < sources_.size(); ++i)
        for (const TensorView& v : sources_[i].file->tensors())
            if (!used_.count({i, v.name})) out.push_back(sources_[i].file->path() + ": " + v.name);
    return out;
}

}  // namespace sdref
