#include "golden.h"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace sdref::test {

std::string golden_dir() {
    const char* env = std::getenv("SDREF_GOLDEN");
    return (env && *env) ? std::string(env) : std::string(SDREF_DEFAULT_GOLDEN);
}

std::string golden_path(const std::string& file) { return golden_dir() + "/" + file; }

std::string golden_v2_dir() {
    const char* env = std::getenv("SDREF_GOLDEN_V2");
    return (env && *env) ? std::string(env) : std::string(SDREF_DEFAULT_GOLDEN_V2);
}

std::string golden_v2_path(const std::string& file) { return golden_v2_dir() + "/" + file; }

std::string golden_v3_dir() {
    const char* env = std::getenv("SDREF_GOLDEN_V3");
    return (env && *env) ? std::string(env) : std::string(SDREF_DEFAULT_GOLDEN_V3);
}

std::string golden_v3_path(const std::string& file) { return golden_v3_dir() + "/" + file; }

std::string golden_v4_dir() {
    const char* env = std::getenv("SDREF_GOLDEN_V4");
    return (env && *env) ? std::string(env) : std::string(SDREF_DEFAULT_GOLDEN_V4);
}

std::string golden_v4_path(const std::string& file) { return golden_v4_dir() + "/" + file; }

std::string bundled_golden_path(const std::string& file) { return std::string(SDREF_SOURCE_DIR) + "/tests/golden/v1/" + file; }

std::string embedding_word() { return SafetensorsFile(golden_v2_path("textual_inversion.safetensors")).meta("word"); }

std::string sdref_binary() { return SDREF_BINARY; }

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Run run(const std::string& args) { return run_binary(sdref_binary(), args); }

Run run_binary(const std::string& binary, const std::string& args) {
    const std::string cmd = quote(binary) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Under a folder of this process's own (ctest runs some tests twice at once, under different environments),
// removed when the process ends.
std::string scratch_dir(const std::string& name) {
    struct ProcessFolder {
        std::filesystem::path path = std::filesystem::temp_directory_path() / ("sdref-test-" + std::to_string(getpid()));
        ~ProcessFolder() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static const ProcessFolder folder;
    const std::filesystem::path dir = folder.path / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

Json load_json_file(const std::string& path) { return Json::parse(read_text_file(path), path); }

void check_close(const std::string& what, const float* got, const float* ref, size_t n, double rel_tol) {
    INFO(what);
    REQUIRE(n != size_t(-1));  // shapes differ
    double ref_max = 0, worst = -1;
    size_t worst_i = 0;
    bool bits_differ = false;
    for (size_t i = 0; i < n; ++i) {
        ref_max = std::max(ref_max, double(std::fabs(ref[i])));
        const double d = std::isnan(got[i]) != std::isnan(ref[i]) ? INFINITY : std::fabs(double(got[i]) - ref[i]);
        if (std::memcmp(&got[i], &ref[i], 4) != 0) bits_differ = bits_differ || !(std::isnan(got[i]) && std::isnan(ref[i]));
        if (d > worst) {
            worst = d;
            worst_i = i;
        }
    }
    const double bound = rel_tol * std::max(1.0, ref_max);
    const bool ok = rel_tol == 0 ? !bits_differ : worst <= bound;
    if (!ok) {
        std::ostringstream msg;
        msg.precision(9);
        msg << what << ": worst element " << worst_i << " of " << n << ": got " << got[worst_i] << ", reference "
            << ref[worst_i] << ", |diff| " << worst << " > bound " << bound << " (rel_tol " << rel_tol
            << " x max(1, " << ref_max << "))";
        FAIL_CHECK(msg.str());
    }
    CHECK(ok);
}

}  // namespace sdref::test

namespace sdref::test {
std::string read_bytes(const std::string& path) { return read_text_file(path); }
Image image_from_u8(const Tensor& u8) {
    const int64_t H = u8.dim(1), W = u8.dim(2);
    Image image{int(W), int(H), 3, std::vector<uint8_t>(size_t(3 * H * W))};
    for (int64_t k = 0; k < 3; ++k)
        for (int64_t i = 0; i < H * W; ++i) image.pixels[size_t(i * 3 + k)] = uint8_t(u8[k * H * W + i]);
    return image;
}

}  // namespace sdref::test
