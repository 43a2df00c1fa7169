// libFuzzer harness: the JSON reader (configs, safetensors headers, API requests). Parse, then walk the value.
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/json.h"

namespace {

size_t walk(const sdref::Json& j, int depth) {
    size_t n = 1;
    if (depth > 1000) return n;
    if (j.is_object())
        for (const auto& [key, value] : j.members()) n += key.size() + walk(value, depth + 1);
    else if (j.is_array())
        for (const sdref::Json& v : j.items()) n += walk(v, depth + 1);
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const sdref::Json j = sdref::Json::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz input");
        (void)walk(j, 0);
    } catch (const sdref::Error&) {
    }
    return 0;
}
