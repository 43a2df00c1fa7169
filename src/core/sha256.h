// sha256.h: SHA-256 (FIPS 180-4), for the short file hashes A1111 writes into a picture's parameters so that PNG
// Info and civitai can tell which add-ons made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sdref {

class Sha256 {
public:
    Sha256();
    void update(const uint8_t* data, size_t n);
    std::string hex_digest();  // 64 lowercase hex digits; the object is spent afterwards

private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buffer_[64];
    size_t buffered_ = 0;
    uint64_t length_ = 0;
};

// The SHA-256 of a file from byte `offset` on (memory-mapped), in hex.
std::string file_sha256(const std::string& path, uint64_t offset = 0);
// A1111's hash of a LoRA: for .safetensors the "addnet" hash (of everything after the header), else of the whole
// file.
std::string addon_sha256(const std::string& path);

}  // namespace sdref
