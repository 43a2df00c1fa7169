// SHA-256 against FIPS 180-4's example vectors (one block, two blocks, a million letters) and A1111's add-on hashes:
// the addnet hash of a .safetensors skips exactly its header.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "core/sha256.h"
#include "golden.h"

using namespace sdref;

namespace {

std::string hash(const std::string& s) {
    Sha256 h;
    h.update(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    return h.hex_digest();
}

}  // namespace

TEST_CASE("SHA-256 gives FIPS 180-4's digests", "[sha256]") {
    CHECK(hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(hash(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // fed in pieces of every size, the same digest
    const std::string text(1000, 'x');
    for (size_t piece : {1, 7, 63, 64, 65, 999}) {
        Sha256 h;
        for (size_t at = 0; at < text.size(); at += piece)
            h.update(reinterpret_cast<const uint8_t*>(text.data() + at), std::min(piece, text.size() - at));
        CHECK(h.hex_digest() == hash(text));
    }
}

TEST_CASE("A1111's addnet hash of a .safetensors LoRA covers what follows its header", "[sha256][addons]") {
    const std::string path = test::golden_v2_path("tiny-sd1-lora.safetensors");
    const std::string bytes = test::read_bytes(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
    CHECK(addon_sha256(path) == hash(bytes.substr(size_t(8 + n))));
    CHECK(file_sha256(path) == hash(bytes));
    const std::string embedding = test::golden_v2_path(test::embedding_word() + ".pt");
    CHECK(addon_sha256(embedding) == file_sha256(embedding));
}
