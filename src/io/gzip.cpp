#include "io/gzip.h"

#include <climits>

#include <zlib.h>

#include "core/error.h"

namespace sdref {

std::string gunzip(const unsigned char* data, size_t size, const std::string& source) {
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) fail(source, ": cannot start gzip decoding");
    std::string out;
    char buf[1 << 16];
    z.next_in = const_cast<unsigned char*>(data);
    z.avail_in = uInt(size > UINT_MAX ? UINT_MAX : size);
    int rc;
    do {
        z.next_out = reinterpret_cast<unsigned char*>(buf);
        z.avail_out = sizeof(buf);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&z);
            fail(source, ": not a valid gzip file");
        }
        out.append(buf, sizeof(buf) - z.avail_out);
    } while (rc != Z_STREAM_END && (z.avail_in > 0 || z.avail_out == 0));
    inflateEnd(&z);
    if (rc != Z_STREAM_END) fail(source, ": truncated gzip file");
    return out;
}

}  // namespace sdref
