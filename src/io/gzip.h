// gzip.h: one gzip stream (RFC 1952) decoded whole, with zlib: the vocabularies built into the binary.
#pragma once

#include <cstddef>
#include <string>

namespace sdref {

// The decoded bytes; an error naming `source` when the data is not one complete gzip stream.
std::string gunzip(const unsigned char* data, size_t size, const std::string& source);

}  // namespace sdref
