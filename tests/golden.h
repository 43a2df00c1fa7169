// golden.h: the golden-test harness. Golden files come from the folders named by $SDREF_GOLDEN (set v1, default:
// the copy in tests/golden/v1) and $SDREF_GOLDEN_V2 (set v2: SDXL and add-ons, default tests/golden/v2); every case
// parameter is read from the files, never from constants in the tests.
#pragma once

#include <string>

#include "core/tensor.h"
#include "io/json.h"
#include "pipeline/image.h"

namespace sdref::test {

// $SDREF_GOLDEN, or tests/golden/v1 of the source tree.
std::string golden_dir();
std::string golden_path(const std::string& file);
// $SDREF_GOLDEN_V2, or tests/golden/v2 of the source tree.
std::string golden_v2_dir();
std::string golden_v2_path(const std::string& file);
// $SDREF_GOLDEN_V3, or tests/golden/v3 of the source tree (set v3: SD 3.5; so far its flow-matching schedules).
std::string golden_v3_dir();
std::string golden_v3_path(const std::string& file);
// $SDREF_GOLDEN_V4, or tests/golden/v4 of the source tree (set v4: TAESD, Real-ESRGAN, A1111's seeds, schedules).
std::string golden_v4_dir();
std::string golden_v4_path(const std::string& file);
// The copy of set v1 shipped in tests/golden/v1, whatever $SDREF_GOLDEN says: what a fixture made from one of its
// files (tests/data/pytorch, by ref/fixtures) is compared with.
std::string bundled_golden_path(const std::string& file);
// The word of set v2's textual-inversion case (textual_inversion.safetensors "word"): its files are <word>.pt and
// <word>.safetensors.
std::string embedding_word();
// The sdref binary under test.
std::string sdref_binary();
// One run of the sdref binary with these (shell-quoted) arguments: its exit status and stdout + stderr together.
struct Run {
    int status;
    std::string output;
};
Run run(const std::string& args);
Run run_binary(const std::string& binary, const std::string& args);  // another binary (a copy of sdref)
// `s` as one single-quoted shell word.
std::string quote(const std::string& s);
// A fresh scratch folder for one test (removed and recreated), in a folder of this process's own.
std::string scratch_dir(const std::string& name);
// A golden uint8 picture stored as floats [3, H, W] (control_image_u8) as an RGB image.
Image image_from_u8(const Tensor& u8);
// Parse a JSON file or string; errors name the source.
Json load_json_file(const std::string& path);

// Element-wise comparison of `got` (n values) against `ref` (n values):
//   passes when max |got - ref| <= rel_tol * max(1, max |ref|).
// On failure the Catch2 message names `what`, the worst element's flat index, both values and the bound.
// rel_tol == 0 demands identical bits.
void check_close(const std::string& what, const float* got, const float* ref, size_t n, double rel_tol);
inline void check_close(const std::string& what, const Tensor& got, const Tensor& ref, double rel_tol) {
    check_close(what + " " + shape_str(got.shape()) + " vs " + shape_str(ref.shape()), got.data(), ref.data(),
                got.shape() == ref.shape() ? size_t(got.numel()) : size_t(-1), rel_tol);
}

}  // namespace sdref::test

namespace sdref::test {
// Item b of a batched tensor [N, ...] as its own tensor [...].
inline Tensor batch_item(const Tensor& t, int64_t b) {
    Shape s(t.shape().begin() + 1, t.shape().end());
    const int64_t n = shape_numel(s);
    return Tensor(s, std::vector<float>(t.data() + b * n, t.data() + (b + 1) * n));
}
// The whole content of a file as bytes.
std::string read_bytes(const std::string& path);
}  // namespace sdref::test
