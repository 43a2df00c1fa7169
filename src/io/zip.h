// zip.h: the entries of a zip archive held in memory (a memory-mapped file), as PyTorch's torch.save writes them:
// stored (method 0, usually) or deflated (method 8) entries, with ZIP64 records for archives over 4 GB.
//
//   [local header + name + extra + data] ... [central directory: one record per entry] [zip64 end records] [end record]
//
// Everything is read from the central directory and checked before use: each entry's local header, name and data
// lie inside the archive, sizes agree, and a deflated entry inflates to exactly its recorded size. Errors name the
// file and the entry.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sdref {

struct ZipEntry {
    std::string name;
    uint16_t method = 0;         // 0 stored, 8 deflated
    uint64_t data_offset = 0;    // of the (compressed) data, from the archive's start
    uint64_t compressed_size = 0, size = 0;
};

class ZipArchive {
public:
    // `data` must outlive the archive; `source` names it in messages.
    ZipArchive(const uint8_t* data, uint64_t size, std::string source);

    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;
    // A stored entry's bytes, in place.
    const uint8_t* stored_bytes(const ZipEntry& e) const;
    // Any entry's content (inflated when deflated); at most `limit` bytes, else an error.
    std::string read(const ZipEntry& e, uint64_t limit) const;

private:
    const uint8_t* data_;
    uint64_t size_;
    std::string source_;
    std::vector<ZipEntry> entries_;
};

}  // namespace sdref
