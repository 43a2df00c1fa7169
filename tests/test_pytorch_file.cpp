// The PyTorch file reader (.ckpt/.pt/.bin): files written by torch.save itself (tests/data/pytorch, made by
// ref/fixtures/make_pytorch_fixtures.py from the golden tiny-sd1 weights; set v2's A1111 embedding and
// hypernetwork) read to the same bytes as their safetensors twins; a pickle that would run a command is refused
// and runs nothing; the legacy format and damaged files are clear errors, never crashes (also under ASan).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <random>

#include "core/error.h"
#include "golden.h"
#include "io/pytorch_file.h"
#include "io/safetensors.h"

using namespace sdref;

namespace {

std::string fixture(const std::string& name) { return std::string(SDREF_SOURCE_DIR) + "/tests/data/pytorch/" + name; }

bool same_bytes(const TensorView& a, const TensorView& b) {
    return a.dtype == b.dtype && a.shape == b.shape && a.nbytes == b.nbytes && std::memcmp(a.bytes, b.bytes, a.nbytes) == 0;
}

}  // namespace

TEST_CASE("a torch.save checkpoint reads to the safetensors file's exact tensors", "[pytorch]") {
    const SafetensorsFile st(test::bundled_golden_path("tiny-sd1.safetensors"));  // what the fixtures were made from
    const PyTorchFile ckpt(fixture("tiny-sd1.ckpt"));  // {"state_dict": {...}, "global_step": 1}
    size_t matched = 0;
    for (const TensorView& v : st.tensors()) {
        const TensorView* w = ckpt.find(v.name);
        REQUIRE(w != nullptr);
        CHECK(same_bytes(v, *w));
        ++matched;
    }
    CHECK(matched == st.tensors().size());
    CHECK(ckpt.find("model_ema.diffusion_modelout2weight") != nullptr);  // the EMA copy is there too

    // the VAE as fp32, not nested, deflated zip entries: the same values
    const PyTorchFile fp32(fixture("tiny-sd1-fp32.ckpt"));
    size_t vae = 0;
    for (const TensorView& v : st.tensors()) {
        if (v.name.rfind("first_stage_model.", 0) != 0) continue;
        ++vae;
        const TensorView* w = fp32.find(v.name);
        REQUIRE(w != nullptr);
        CHECK(w->dtype == DType::F32);
        const Tensor a = v.to_f32(), b = w->to_f32();
        REQUIRE(a.shape() == b.shape());
        CHECK(std::memcmp(a.data(), b.data(), size_t(a.numel()) * 4) == 0);
    }
    CHECK(vae == fp32.tensors().size());
}

TEST_CASE("A1111's embedding and hypernetwork pickles read: tensors by path, settings from the object", "[pytorch][golden]") {
    const PyTorchFile pt(test::golden_v2_path(test::embedding_word() + ".pt"));
    const SafetensorsFile st(test::golden_v2_path(test::embedding_word() + ".safetensors"));
    const TensorView* vectors = pt.find("string_to_param.*");
    REQUIRE(vectors != nullptr);
    const Tensor a = vectors->to_f32(), b = st.load_f32("emb_params");  // F32 in the pickle, F16 in the safetensors
    REQUIRE(a.shape() == b.shape());
    CHECK(std::memcmp(a.data(), b.data(), size_t(a.numel()) * 4) == 0);
    const PyObject* name = pt.root().get("name");
    REQUIRE(name != nullptr);
    CHECK(name->kind == PyObject::Kind::Str);

    const PyTorchFile hn(test::golden_v2_path("tiny-hn.pt"));
    const PyObject* layers = hn.root().get("layer_structure");
    REQUIRE(layers != nullptr);
    CHECK(layers->kind == PyObject::Kind::List);
    // per context width (the root's integer keys) x (k, v) x linear layers (between the structure's entries) x (weight, bias)
    size_t widths = 0;
    for (const auto& [key, value] : hn.root().dict) widths += key->kind == PyObject::Kind::Int;
    CHECK(widths > 0);
    CHECK(hn.tensors().size() == widths * 2 * (layers->items.size() - 1) * 2);
    const PyObject* act = hn.root().get("activation_func");
    REQUIRE(act != nullptr);
    CHECK(act->s == "relu");
}

TEST_CASE("a pickle that would run a shell command is refused, naming the global, and nothing runs", "[pytorch][security]") {
    const std::string marker = "/tmp/sdref-pickle-pwned";
    std::remove(marker.c_str());
    CHECK_THROWS_WITH(PyTorchFile(fixture("evil.pt")), Catch::Contains("evil.pt") && Catch::Contains("posix.system") &&
                                                           Catch::Contains("no code is ever run"));
    struct stat st;
    CHECK(::stat(marker.c_str(), &st) != 0);
    CHECK_THROWS_WITH(open_tensor_file(fixture("legacy.pt")), Catch::Contains("legacy.pt") && Catch::Contains("legacy"));
}

TEST_CASE("every truncation and byte flip of a PyTorch file loads or fails cleanly", "[pytorch][malformed]") {
    const std::string valid = test::read_bytes(test::golden_v2_path(test::embedding_word() + ".pt"));
    const std::string path = test::scratch_dir("pytorch-mutate") + "/mutant.pt";
    std::mt19937 rng(99);
    size_t rejected = 0, accepted = 0;
    auto attempt = [&](const std::string& bytes) {
        std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
        try {
            const PyTorchFile f(path);
            for (const TensorView& v : f.tensors()) {
                volatile unsigned sum = 0;  // touch every byte handed out, so ASan sees the reads
                for (size_t i = 0; i < v.nbytes; ++i) sum = sum + v.bytes[i];
            }
            ++accepted;
        } catch (const Error&) {
            ++rejected;
        }
    };
    for (size_t len = 0; len < valid.size(); len += 3) attempt(valid.substr(0, len));
    for (int round = 0; round < 2000; ++round) {
        std::string m = valid;
        const int flips = 1 + int(rng() % 3);
        for (int f = 0; f < flips; ++f) m[rng() % m.size()] = char(rng());
        attempt(m);
    }
    CHECK(rejected > 0);
    CHECK(accepted > 0);
}
