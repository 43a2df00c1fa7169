#include "io/tensor_file.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "core/error.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/pytorch_file.h"
#include "io/safetensors.h"

namespace sdref {

const TensorView* TensorFile::find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& TensorFile::get(const std::string& name) const {
    const TensorView* v = find(name);
    if (!v) fail(path(), ": no tensor named \"", name, "\"");
    return *v;
}

const std::string& TensorFile::meta(const std::string& key) const {
    const auto it = metadata_.find(key);
    if (it == metadata_.end()) fail(path(), ": no __metadata__ entry \"", key, "\"");
    return it->second;
}

void TensorFile::index_tensors() {
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
    index_.clear();
    for (size_t i = 0; i < tensors_.size(); ++i) {
        if (i > 0 && tensors_[i].name == tensors_[i - 1].name) fail(path_, ": tensor \"", tensors_[i].name, "\" appears twice");
        index_[tensors_[i].name] = i;
    }
}

MemoryTensorFile::MemoryTensorFile(std::string description, std::vector<TensorRecord> records)
    : TensorFile(std::move(description)), records_(std::move(records)) {
    for (const TensorRecord& r : records_) {
        if (r.bytes.size() != size_t(shape_numel(r.shape)) * dtype_size(r.dtype))
            fail(path_, ": tensor \"", r.name, "\" has ", r.bytes.size(), " bytes for its shape ", shape_str(r.shape));
        tensors_.push_back({r.name, r.dtype, r.shape, reinterpret_cast<const uint8_t*>(r.bytes.data()), r.bytes.size()});
    }
    index_tensors();
}

std::vector<std::string> diffusers_weight_files(const std::string& dir, const std::string& stem) {
    for (const std::string& name : {stem + ".safetensors", stem + ".fp16.safetensors"})
        if (path_exists(dir + "/" + name)) return {dir + "/" + name};
    for (const std::string& name : {stem + ".safetensors.index.json", stem + ".safetensors.index.fp16.json"}) {
        const std::string index = dir + "/" + name;
        if (!path_exists(index)) continue;
        const Json json = Json::parse(read_text_file(index), index);
        std::set<std::string> shards;
        for (const auto& [tensor, file] : json.at("weight_map").members(index + ": weight_map")) {
            const std::string f = file.as_string(index + ": weight_map." + tensor);
            if (f.find('/') != std::string::npos || f.find("..") != std::string::npos) fail(index, ": shard \"", f, "\" is not a file of this folder");
            shards.insert(dir + "/" + f);
        }
        if (shards.empty()) fail(index, ": weight_map lists no shards");
        return {shards.begin(), shards.end()};
    }
    fail(dir, ": no ", stem, ".safetensors (nor its .fp16 variant, nor a sharded ", stem, ".safetensors.index.json)");
}

std::unique_ptr<TensorFile> open_tensor_file(const std::string& path) {
    // the first bytes tell: "PK\3\4" a zip archive (PyTorch since 1.6); older torch.save files start with the
    // pickled magic number 0x1950a86a20f9469cfc6c (PROTO 2, LONG1 of 10 bytes)
    static const uint8_t kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    const MappedFile probe(path);
    const uint8_t* b = probe.data();
    if (probe.size() >= 4 && std::memcmp(b, "PK\x03\x04", 4) == 0) return std::make_unique<PyTorchFile>(path);
    if (probe.size() >= sizeof kLegacyMagic && std::memcmp(b, kLegacyMagic, sizeof kLegacyMagic) == 0)
        fail(path, ": a PyTorch file in the legacy (pre-1.6, non-zip) torch.save format, which sdref does not read; "
                   "re-save it with a current PyTorch or convert it to .safetensors");
    return std::make_unique<SafetensorsFile>(path);
}

}  // namespace sdref
