#include "io/zip.h"

#include <zlib.h>

#include <algorithm>

#include "core/error.h"

namespace sdref {

namespace {

uint64_t le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

constexpr uint32_t kEndSig = 0x06054b50, kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50, kCentralSig = 0x02014b50,
                   kLocalSig = 0x04034b50;

}  // namespace

ZipArchive::ZipArchive(const uint8_t* data, uint64_t size, std::string source) : data_(data), size_(size), source_(std::move(source)) {
    auto need = [&](uint64_t offset, uint64_t length, const char* what) {
        if (offset > size_ || length > size_ - offset) fail(source_, ": zip ", what, " at byte ", offset, " runs past the end of the file");
    };
    // the end record: 22 bytes plus a comment of up to 65535, at the very end
    if (size_ < 22) fail(source_, ": too short for a zip archive");
    uint64_t end = size_ - 22;
    const uint64_t lowest = size_ > 22 + 65535 ? size_ - 22 - 65535 : 0;
    while (le(data_ + end, 4) != kEndSig) {
        if (end == lowest) fail(source_, ": no zip end-of-central-directory record (a truncated or damaged file)");
        --end;
    }
    uint64_t count = le(data_ + end + 10, 2), dir_size = le(data_ + end + 12, 4), dir_offset = le(data_ + end + 16, 4);
    if (count == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) {
        // ZIP64: a locator just before the end record points at the zip64 end record
        if (end < 20 || le(data_ + end - 20, 4) != kZip64LocatorSig) fail(source_, ": zip64 sizes without a zip64 locator");
        const uint64_t rec = le(data_ + end - 20 + 8, 8);
        need(rec, 56, "zip64 end record");
        if (le(data_ + rec, 4) != kZip64EndSig) fail(source_, ": bad zip64 end record signature");
        count = le(data_ + rec + 32, 8);
        dir_size = le(data_ + rec + 40, 8);
        dir_offset = le(data_ + rec + 48, 8);
    }
    need(dir_offset, dir_size, "central directory");
    if (count > dir_size / 46) fail(source_, ": zip central directory claims ", count, " entries in ", dir_size, " bytes");

    uint64_t at = dir_offset;
    for (uint64_t i = 0; i < count; ++i) {
        need(at, 46, "central directory record");
        if (le(data_ + at, 4) != kCentralSig) fail(source_, ": bad zip central directory record ", i);
        ZipEntry e;
        e.method = uint16_t(le(data_ + at + 10, 2));
        e.compressed_size = le(data_ + at + 20, 4);
        e.size = le(data_ + at + 24, 4);
        const uint64_t name_len = le(data_ + at + 28, 2), extra_len = le(data_ + at + 30, 2), comment_len = le(data_ + at + 32, 2);
        uint64_t local = le(data_ + at + 42, 4);
        need(at + 46, name_len + extra_len + comment_len, "central directory record");
        e.name.assign(reinterpret_cast<const char*>(data_ + at + 46), size_t(name_len));
        // ZIP64 extra field (id 1): the 64-bit values of the fields that read 0xffffffff, in this order
        for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
            const uint64_t id = le(data_ + x, 2), len = le(data_ + x + 2, 2);
            if (x + 4 + len > at + 46 + name_len + extra_len) fail(source_, ": entry \"", e.name, "\": malformed zip extra field");
            if (id == 1) {
                uint64_t p = x + 4;
                auto take = [&](uint64_t* field) {
                    if (*field != 0xffffffff) return;
                    if (p + 8 > x + 4 + len) fail(source_, ": entry \"", e.name, "\": short zip64 extra field");
                    *field = le(data_ + p, 8);
                    p += 8;
                };
                take(&e.size);
                take(&e.compressed_size);
                take(&local);
            }
            x += 4 + len;
        }
        if (e.method != 0 && e.method != 8)
            fail(source_, ": entry \"", e.name, "\" uses zip compression method ", e.method, " (only stored and deflated are read)");
        if (e.method == 0 && e.compressed_size != e.size) fail(source_, ": stored entry \"", e.name, "\" has two different sizes");
        need(local, 30, "local header");
        if (le(data_ + local, 4) != kLocalSig) fail(source_, ": entry \"", e.name, "\": bad zip local header");
        e.data_offset = local + 30 + le(data_ + local + 26, 2) + le(data_ + local + 28, 2);
        need(e.data_offset, e.compressed_size, ("entry \"" + e.name + "\"").c_str());
        entries_.push_back(std::move(e));
        at += 46 + name_len + extra_len + comment_len;
    }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
    for (const ZipEntry& e : entries_)
        if (e.name == name) return &e;
    return nullptr;
}

const uint8_t* ZipArchive::stored_bytes(const ZipEntry& e) const {
    if (e.method != 0) fail(source_, ": entry \"", e.name, "\" is compressed, not stored");
    return data_ + e.data_offset;
}

std::string ZipArchive::read(const ZipEntry& e, uint64_t limit) const {
    if (e.size > limit) fail(source_, ": entry \"", e.name, "\" is ", e.size, " bytes, more than the ", limit, " allowed");
    if (e.method == 0) return std::string(reinterpret_cast<const char*>(data_ + e.data_offset), size_t(e.size));
    // raw deflate (no zlib header), in pieces of at most 1 GB for zlib's 32-bit counters
    std::string out(size_t(e.size), '\0');
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail(source_, ": cannot start inflating \"", e.name, "\"");
    uint64_t in_left = e.compressed_size, out_done = 0;
    const uint8_t* in = data_ + e.data_offset;
    int rc = Z_OK;
    while (rc == Z_OK) {
        const uint32_t in_chunk = uint32_t(std::min<uint64_t>(in_left, 1u << 30));
        const uint32_t out_chunk = uint32_t(std::min<uint64_t>(e.size - out_done, 1u << 30));
        z.next_in = const_cast<uint8_t*>(in);
        z.avail_in = in_chunk;
        z.next_out = reinterpret_cast<Bytef*>(&out[size_t(out_done)]);
        z.avail_out = out_chunk;
        rc = inflate(&z, Z_NO_FLUSH);
        in += in_chunk - z.avail_in;
        in_left -= in_chunk - z.avail_in;
        out_done += out_chunk - z.avail_out;
        if (rc == Z_OK && z.avail_out == out_chunk && z.avail_in == in_chunk) rc = Z_DATA_ERROR;  // no progress
        if (rc == Z_BUF_ERROR && out_done == e.size) rc = Z_DATA_ERROR;  // more output than recorded
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || out_done != e.size)
        fail(source_, ": entry \"", e.name, "\" does not inflate to its recorded ", e.size, " bytes (damaged data)");
    return out;
}

}  // namespace sdref
