// safetensors reader and writer: round trips, the golden checkpoints, and malformed files. Built a second time
// under AddressSanitizer (sdref_tests_asan), so a read outside the mapping fails the run.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "core/error.h"
#include "golden.h"
#include "io/safetensors.h"

using namespace sdref;

namespace {

std::string le64(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char(v >> (8 * i));
    return s;
}

// Write raw bytes to a file in the scratch folder and return its path.
std::string write_raw(const std::string& name, const std::string& bytes) {
    const std::string path = test::scratch_dir("safetensors-" + name) + "/" + name + ".safetensors";
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
}

// A file with the given JSON header and `data_bytes` bytes of data.
std::string write_with_header(const std::string& name, const std::string& header, size_t data_bytes) {
    return write_raw(name, le64(header.size()) + header + std::string(data_bytes, '\x11'));
}

void check_rejected(const std::string& path, const std::string& expect) {
    INFO("file " << path);
    CHECK_THROWS_AS(SafetensorsFile(path), Error);
    CHECK_THROWS_WITH(SafetensorsFile(path), Catch::Contains(path) && Catch::Contains(expect));
}

}  // namespace

TEST_CASE("safetensors round trip: every dtype, 0-d tensors, metadata", "[safetensors]") {
    const std::string dir = test::scratch_dir("safetensors-roundtrip");
    const std::string path = dir + "/all.safetensors";
    std::vector<TensorRecord> records;
    const DType all[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                         DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};
    for (DType t : all) {
        std::string bytes(dtype_size(t) * 6, '\0');
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 7 + 1);
        records.push_back({std::string("t_") + dtype_name(t), t, {2, 3}, bytes});
    }
    records.push_back({"scalar", DType::F32, {}, std::string("\x00\x00\x80\x3f", 4)});  // 1.0f, shape []
    records.push_back({"empty", DType::F16, {0, 4}, ""});
    write_safetensors(path, records, {{"about", "test \"quoted\"\n"}});

    const SafetensorsFile file(path);
    CHECK(file.meta("about") == "test \"quoted\"\n");
    CHECK(file.tensors().size() == records.size());
    for (const TensorRecord& r : records) {
        const TensorView& v = file.get(r.name);
        CHECK(v.dtype == r.dtype);
        CHECK(v.shape == r.shape);
        REQUIRE(v.nbytes == r.bytes.size());
        CHECK(std::memcmp(v.bytes, r.bytes.data(), v.nbytes) == 0);
    }
    CHECK(file.get("scalar").numel() == 1);
    CHECK(file.load_f32("scalar")[0] == 1.0f);
    CHECK(file.get("empty").numel() == 0);
    CHECK_THROWS_WITH(file.get("nope"), Catch::Contains(path) && Catch::Contains("nope"));
}

TEST_CASE("fp16 and bf16 views convert exactly", "[safetensors]") {
    const std::string path = test::scratch_dir("safetensors-f16") + "/h.safetensors";
    const float values[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f, 0.333251953125f};
    std::string h, b;
    for (float v : values) {
        const uint16_t x = f32_to_f16(v);
        h.append(reinterpret_cast<const char*>(&x), 2);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        const uint16_t y = uint16_t(bits >> 16);
        b.append(reinterpret_cast<const char*>(&y), 2);
    }
    write_safetensors(path, {{"h", DType::F16, {8}, h}, {"b", DType::BF16, {8}, b}});
    const SafetensorsFile file(path);
    const Tensor hf = file.load_f32("h"), bf = file.load_f32("b");
    for (int i = 0; i < 8; ++i) {
        CHECK(hf[i] == values[i]);  // every value above is exact in fp16
        uint32_t bits;
        std::memcpy(&bits, &values[i], 4);
        bits &= 0xffff0000u;  // what the bf16 file stores
        float truncated;
        std::memcpy(&truncated, &bits, 4);
        CHECK(bf[i] == truncated);
    }
}

TEST_CASE("golden checkpoints load, with 0-d and integer buffers", "[safetensors][golden]") {
    const SafetensorsFile file(test::golden_path("tiny-sd1.safetensors"));
    CHECK(file.tensors().size() > 100);
    const TensorView& decay = file.get("model_ema.decay");
    CHECK(decay.shape.empty());
    CHECK(decay.dtype == DType::F32);
    CHECK(file.get("model_ema.num_updates").dtype == DType::I32);
    bool has_i64 = false;
    for (const TensorView& v : file.tensors()) has_i64 = has_i64 || v.dtype == DType::I64;
    CHECK(has_i64);
}

TEST_CASE("malformed safetensors files are clear errors, never out-of-bounds reads", "[safetensors][malformed]") {
    const std::string good = R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

    SECTION("empty file") { check_rejected(write_raw("empty", ""), "shorter than the 8-byte header length"); }
    SECTION("truncated inside the length") { check_rejected(write_raw("short", "\x10\x00\x00"), "shorter than"); }
    SECTION("header length past the end of the file") {
        check_rejected(write_raw("past", le64(1000) + "{}"), "runs past the end of the file");
    }
    SECTION("absurd header length") {
        check_rejected(write_raw("absurd", le64(~uint64_t(0)) + "{}"), "exceeds the");
        check_rejected(write_raw("absurd2", le64(uint64_t(1) << 40) + "{}"), "exceeds the");
    }
    SECTION("header is not JSON") { check_rejected(write_with_header("notjson", "{\"a\": nope}", 0), "invalid JSON"); }
    SECTION("header is binary garbage") {
        check_rejected(write_with_header("garbage", std::string("\xff\xfe\x00\x01", 4), 0), "invalid JSON");
    }
    SECTION("header is JSON but not an object") { check_rejected(write_with_header("array", "[1,2]", 0), "not an object"); }
    SECTION("deeply nested header") {
        check_rejected(write_with_header("deep", std::string(100000, '[') + std::string(100000, ']'), 0), "nesting");
    }
    SECTION("truncated data section") { check_rejected(write_with_header("trunc", good, 23), "\"a\""); }
    SECTION("unknown dtype") {
        check_rejected(write_with_header("dtype", R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1),
                       "unknown dtype \"F8\"");
    }
    SECTION("byte length that lies about the shape") {
        check_rejected(write_with_header("lie", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24),
                       "tensor \"w\": data_offsets span 20 bytes but F32 [2, 3] needs 24");
    }
    SECTION("offsets past the data section") {
        check_rejected(write_with_header("range", R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[100,108]}})", 8),
                       "tensor \"w\": data_offsets [100, 108] run past the data section (8 bytes)");
    }
    SECTION("huge offsets that would wrap") {
        check_rejected(write_with_header("wrap",
                                         R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}})", 8),
                       "tensor \"w\"");
    }
    SECTION("end before begin") {
        check_rejected(write_with_header("order", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}})", 8),
                       "is before begin");
    }
    SECTION("overlapping tensors") {
        const std::string h = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
        check_rejected(write_with_header("overlap", h, 12), "overlaps tensor");
    }
    SECTION("negative or fractional dimension") {
        check_rejected(write_with_header("neg", R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0),
                       "non-negative integers");
        check_rejected(write_with_header("frac", R"({"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", 1),
                       "non-negative integers");
    }
    SECTION("shape whose element count overflows") {
        check_rejected(write_with_header("overflow",
                                         R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", 0),
                       "more than 2^60 elements");
    }
    SECTION("missing field") {
        check_rejected(write_with_header("missing", R"({"w":{"dtype":"F32","shape":[1]}})", 4), "needs \"dtype\"");
    }
    SECTION("duplicate tensor name") {
        const std::string h = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                              R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
        check_rejected(write_with_header("dup", h, 2), "appears twice");
    }
    SECTION("metadata that is not a string map") {
        check_rejected(write_with_header("meta", R"({"__metadata__":{"k":1}})", 0), "__metadata__ value \"k\"");
    }
}

TEST_CASE("every truncation and byte flip of a valid file loads or fails cleanly", "[safetensors][malformed]") {
    const std::string dir = test::scratch_dir("safetensors-mutate");
    const std::string valid_path = dir + "/valid.safetensors";
    write_safetensors(valid_path, {{"a", DType::F16, {3}, std::string(6, '\x01')}, {"b", DType::I32, {2}, std::string(8, '\x02')}},
                      {{"k", "v"}});
    const std::string valid = test::read_bytes(valid_path);
    std::mt19937 rng(1234);
    size_t rejected = 0, accepted = 0;
    auto attempt = [&](const std::string& bytes) {
        const std::string path = dir + "/mutant.safetensors";
        std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
        try {
            const SafetensorsFile f(path);
            for (const TensorView& v : f.tensors()) {
                // touch every byte the reader handed out
                volatile unsigned sum = 0;  // volatile: the reads are not optimised away, so ASan sees them
                for (size_t i = 0; i < v.nbytes; ++i) sum = sum + v.bytes[i];
                REQUIRE(v.nbytes == size_t(v.numel()) * dtype_size(v.dtype));
            }
            ++accepted;
        } catch (const Error&) {
            ++rejected;
        }
    };
    for (size_t len = 0; len < valid.size(); ++len) attempt(valid.substr(0, len));
    for (int round = 0; round < 3000; ++round) {
        std::string m = valid;
        const int flips = 1 + int(rng() % 3);
        for (int f = 0; f < flips; ++f) m[rng() % m.size()] = char(rng());
        attempt(m);
    }
    CHECK(rejected > valid.size());  // every strict truncation is rejected, plus many mutants
    CHECK(accepted > 0);             // flips inside the data section stay valid
}
