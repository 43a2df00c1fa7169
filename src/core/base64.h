// base64.h: RFC 4648 base64, for images in the HTTP API's JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sdref {

std::string base64_encode(const uint8_t* data, size_t size);
inline std::string base64_encode(const std::string& bytes) {
    return base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}
// Padding optional, whitespace skipped; anything else that is not base64 is an sdref::Error naming `name`.
std::vector<uint8_t> base64_decode(const std::string& text, const std::string& name);

}  // namespace sdref
