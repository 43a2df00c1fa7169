#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "io/json.h"

namespace sdref {

namespace {

uint64_t read_u64_le(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// Parse one tensor entry of the header into `view` (bytes not yet resolved). `begin`/`end` are the offsets.
void parse_entry(const std::string& where, const Json& entry, TensorView* view, uint64_t* begin, uint64_t* end) {
    if (!entry.is_object()) fail(where, ": entry is ", json_type_name(entry.type()), ", expected an object");
    const Json* dtype = nullptr;
    const Json* shape = nullptr;
    const Json* offsets = nullptr;
    for (const auto& [key, value] : entry.members()) {
        if (key == "dtype") dtype = &value;
        else if (key == "shape") shape = &value;
        else if (key == "data_offsets") offsets = &value;
        else fail(where, ": unexpected field \"", key, "\"");
    }
    if (!dtype || !shape || !offsets) fail(where, ": needs \"dtype\", \"shape\" and \"data_offsets\"");
    if (!dtype->is_string()) fail(where, ": dtype is not a string");
    if (!parse_dtype(dtype->as_string(), &view->dtype)) fail(where, ": unknown dtype \"", dtype->as_string(), "\"");

    if (!shape->is_array()) fail(where, ": shape is not a list");
    // Bound the element count so that count * dtype size cannot overflow 64 bits.
    const uint64_t max_numel = uint64_t(1) << 60;
    uint64_t numel = 1;
    for (const Json& d : shape->items()) {
        if (!d.is_integer() || d.as_int() < 0) fail(where, ": shape entries must be non-negative integers");
        const uint64_t n = uint64_t(d.as_int());
        if (n != 0 && numel > max_numel / n) fail(where, ": shape has more than 2^60 elements");
        numel *= n;
        view->shape.push_back(int64_t(n));
    }

    if (!offsets->is_array() || offsets->items().size() != 2) fail(where, ": data_offsets must be [begin, end]");
    const Json& b = offsets->items()[0];
    const Json& e = offsets->items()[1];
    if (!b.is_integer() || !e.is_integer() || b.as_int() < 0 || e.as_int() < 0)
        fail(where, ": data_offsets must be non-negative integers");
    *begin = uint64_t(b.as_int());
    *end = uint64_t(e.as_int());
    if (*end < *begin) fail(where, ": data_offsets end ", *end, " is before begin ", *begin);
    const uint64_t expected = numel * dtype_size(view->dtype);
    if (*end - *begin != expected)
        fail(where, ": data_offsets span ", *end - *begin, " bytes but ", dtype_name(view->dtype), " ",
             shape_str(view->shape), " needs ", expected);
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : TensorFile(path), file_(path) {
    const uint8_t* base = file_.data();
    const uint64_t size = file_.size();
    if (size < 8) fail(path, ": not a safetensors file (", size, " bytes, shorter than the 8-byte header length)");
    const uint64_t header_len = read_u64_le(base);
    if (header_len > kMaxHeaderBytes)
        fail(path, ": header length ", header_len, " exceeds the ", kMaxHeaderBytes, "-byte limit");
    if (header_len > size - 8)
        fail(path, ": header length ", header_len, " runs past the end of the file (", size, " bytes)");
    const std::string_view header_text(reinterpret_cast<const char*>(base + 8), size_t(header_len));
    const Json header = Json::parse(header_text, path + " (safetensors header)");
    if (!header.is_object()) fail(path, ": safetensors header is ", json_type_name(header.type()), ", not an object");

    const uint8_t* data = base + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;
    struct Range {
        uint64_t begin, end;
        size_t tensor;
    };
    std::vector<Range> ranges;
    for (const auto& [name, entry] : header.members()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) fail(path, ": __metadata__ is not an object");
            for (const auto& [key, value] : entry.members()) {
                if (!value.is_string()) fail(path, ": __metadata__ value \"", key, "\" is not a string");
                metadata_[key] = value.as_string();
            }
            continue;
        }
        const std::string where = path + ": tensor \"" + name + "\"";
        if (index_.count(name)) fail(where, ": appears twice in the header");
        TensorView view;
        view.name = name;
        uint64_t begin = 0, end = 0;
        parse_entry(where, entry, &view, &begin, &end);
        if (end > data_size)
            fail(where, ": data_offsets [", begin, ", ", end, "] run past the data section (", data_size, " bytes)");
        view.bytes = data + begin;
        view.nbytes = size_t(end - begin);
        index_[name] = tensors_.size();
        ranges.push_back({begin, end, tensors_.size()});
        tensors_.push_back(std::move(view));
    }

    // No two tensors may share a byte (empty tensors share none).
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    const Range* last = nullptr;
    for (const Range& r : ranges) {
        if (r.begin == r.end) continue;
        if (last && r.begin < last->end)
            fail(path, ": tensor \"", tensors_[r.tensor].name, "\" overlaps tensor \"", tensors_[last->tensor].name,
                 "\" (bytes ", r.begin, "..", r.end, " and ", last->begin, "..", last->end, ")");
        last = &r;
    }

    index_tensors();
}

TensorRecord make_record(const std::string& name, const Tensor& t) {
    TensorRecord r{name, DType::F32, t.shape(), std::string(size_t(t.numel()) * 4, '\0')};
    std::memcpy(r.bytes.data(), t.data(), r.bytes.size());
    return r;
}

void write_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    write_safetensors(path, tensors, metadata, [&](size_t i) { return tensors[i].bytes; });
}

void write_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors, const std::map<std::string, std::string>& metadata,
                       const std::function<std::string(size_t index)>& bytes_of) {
    std::string header = "{";
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        bool first = true;
        for (const auto& [k, v] : metadata) {
            header += (first ? "" : ",") + json_quote(k) + ":" + json_quote(v);
            first = false;
        }
        header += "}";
    }
    uint64_t offset = 0;
    for (const TensorRecord& t : tensors) {
        const uint64_t expected = uint64_t(shape_numel(t.shape)) * dtype_size(t.dtype);
        if (header.size() > 1) header += ",";
        header += json_quote(t.name) + ":{\"dtype\":\"" + dtype_name(t.dtype) + "\",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + expected) + "]}";
        offset += expected;
    }
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' ');

    const std::string tmp = path + ".part";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail(path, ": cannot create ", tmp);
        uint8_t len[8];
        for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
        out.write(reinterpret_cast<const char*>(len), 8);
        out.write(header.data(), std::streamsize(header.size()));
        for (size_t i = 0; i < tensors.size(); ++i) {
            const std::string bytes = bytes_of(i);
            const uint64_t expected = uint64_t(shape_numel(tensors[i].shape)) * dtype_size(tensors[i].dtype);
            if (bytes.size() != expected) {
                out.close();
                std::remove(tmp.c_str());
                fail(path, ": tensor \"", tensors[i].name, "\" has ", bytes.size(), " bytes, its shape needs ", expected);
            }
            out.write(bytes.data(), std::streamsize(bytes.size()));
        }
        out.close();
        if (!out) {
            std::remove(tmp.c_str());
            fail(path, ": write failed");
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail(path, ": cannot rename ", tmp, " into place");
    }
}

}  // namespace sdref
