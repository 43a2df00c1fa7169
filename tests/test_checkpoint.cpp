// Whole checkpoints: the single file and the diffusers folder of tiny-sd1 load through the same code and give the
// same outputs (and the goldens'); model kinds are detected; unused tensors are listed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "golden.h"
#include "io/safetensors.h"
#include "core/rng.h"
#include "io/pytorch_file.h"
#include "loader/checkpoint.h"

using namespace sdref;

namespace {

CheckpointOverrides with_prediction(const std::string& type) {
    CheckpointOverrides o;
    o.prediction_type = type;
    return o;
}

CheckpointOverrides with_ema() {
    CheckpointOverrides o;
    o.use_ema = true;
    return o;
}


bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * 4) == 0;
}

}  // namespace

TEST_CASE("tiny-sd1 as a single file and as a diffusers folder: same outputs, both match the goldens", "[checkpoint][golden]") {
    const StableDiffusionModel file = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    const StableDiffusionModel folder = StableDiffusionModel::load(test::golden_path("tiny-sd1-diffusers"));
    for (const StableDiffusionModel* m : {&file, &folder}) {
        CHECK(m->info().family == &sd1_family());
        CHECK_FALSE(m->denoiser().info().inpainting);
        CHECK(m->denoiser().info().scheduler.prediction_type == "epsilon");
    }
    const SafetensorsFile u(test::golden_path("unet_sd1.safetensors"));
    const Tensor x = u.load_f32("x"), t = u.load_f32("t"), ctx = u.load_f32("context"), eps = u.load_f32("eps");
    const Tensor a = file.unet().forward(test::batch_item(x, 0), t[0], {test::batch_item(ctx, 0), {}});
    const Tensor b = folder.unet().forward(test::batch_item(x, 0), t[0], {test::batch_item(ctx, 0), {}});
    CHECK(same_bits(a, b));
    test::check_close("unet from folder", b, test::batch_item(eps, 0), 1e-4);

    const SafetensorsFile v(test::golden_path("vae.safetensors"));
    const Tensor latent = test::batch_item(v.load_f32("latent"), 0), image = test::batch_item(v.load_f32("image"), 0);
    CHECK(same_bits(file.vae().decode(latent), folder.vae().decode(latent)));
    test::check_close("vae decode from folder", folder.vae().decode(latent), test::batch_item(v.load_f32("decoded"), 0), 1e-4);
    test::check_close("vae mean from folder", folder.vae().encode(image).mean, test::batch_item(v.load_f32("mean"), 0), 1e-4);

    CHECK(same_bits(file.conditioner().encode("a photo of a cat", false, {}).context,
                    folder.conditioner().encode("a photo of a cat", false, {}).context));
}

TEST_CASE("model kinds: inpainting and SD 2.x v-prediction are detected, overrides apply", "[checkpoint][golden]") {
    const StableDiffusionModel inpaint = StableDiffusionModel::load(test::golden_path("tiny-sd1-inpaint.safetensors"));
    CHECK(inpaint.denoiser().info().inpainting);
    const StableDiffusionModel sd2 = StableDiffusionModel::load(test::golden_path("tiny-sd2v.safetensors"));
    CHECK(sd2.info().family == &sd2_family());
    // its conditioner pads with 0 and takes the penultimate layer: clip_text_sd2's conditioning for its texts. The
    // golden is raw CLIP on input_ids, made from clip_text_sd1's prompts (asserted: each tokenizes to its row), and
    // the conditioner reads A1111's syntax, so a prompt goes in with ( ) [ ] \ escaped; BREAK cannot be escaped
    const SafetensorsFile c1(test::golden_path("clip_text_sd1.safetensors")), c2(test::golden_path("clip_text_sd2.safetensors"));
    const Json prompts = Json::parse(c1.meta("prompts"), "clip_text_sd1 prompts");
    const Tensor pen = c2.load_f32("penultimate_normed"), ids = c2.load_f32("input_ids");
    REQUIRE(int64_t(prompts.items().size()) == pen.dim(0));
    for (size_t b = 0; b < prompts.items().size(); ++b) {
        const std::string prompt = prompts.items()[b].as_string();
        INFO("prompt " << b << ": " << prompt);
        const std::vector<int> expected = ClipTokenizer::builtin().encode_padded(prompt, ClipTokenizer::kPadSd2);
        REQUIRE(int64_t(expected.size()) == ids.dim(1));
        for (size_t i = 0; i < expected.size(); ++i) REQUIRE(expected[i] == int(ids[int64_t(b) * ids.dim(1) + int64_t(i)]));
        if (prompt.find("BREAK") != std::string::npos) continue;
        std::string escaped;
        for (char ch : prompt) escaped += std::string(std::string("()[]\\").find(ch) != std::string::npos ? "\\" : "") + ch;
        test::check_close("SD 2.x conditioning of prompt " + std::to_string(b), sd2.conditioner().encode(escaped, false, {}).context,
                          test::batch_item(pen, int64_t(b)), 1e-4);
    }
    CHECK(sd2.denoiser().info().scheduler.prediction_type == "v_prediction");
    const StableDiffusionModel eps = StableDiffusionModel::load(test::golden_path("tiny-sd2v.safetensors"), with_prediction("epsilon"));
    CHECK(eps.denoiser().info().scheduler.prediction_type == "epsilon");
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_path("tiny-sd2v.safetensors"), with_prediction("x0")),
                      Catch::Contains("--prediction-type"));
}

TEST_CASE("unused tensors (EMA, schedule buffers) are listed, model tensors are not", "[checkpoint][golden]") {
    const StableDiffusionModel m = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    const std::vector<std::string> unused = m.unused_tensors();
    auto listed = [&](const std::string& name) {
        return std::any_of(unused.begin(), unused.end(), [&](const std::string& u) { return u.find(": " + name) != std::string::npos; });
    };
    CHECK(listed("alphas_cumprod"));
    CHECK(listed("model_ema.decay"));
    CHECK_FALSE(listed("model.diffusion_model.out.2.weight"));
    CHECK_FALSE(listed("first_stage_model.decoder.conv_out.weight"));
    for (const std::string& u : unused) CHECK(u.find("model.diffusion_model.input_blocks") == std::string::npos);
}

TEST_CASE("a missing model file or folder is a clear error", "[checkpoint]") {
    CHECK_THROWS_WITH(StableDiffusionModel::load("/nonexistent/model.safetensors"), Catch::Contains("/nonexistent/model.safetensors"));
    const std::string dir = test::scratch_dir("not-a-model");
    CHECK_THROWS_WITH(StableDiffusionModel::load(dir), Catch::Contains("model_index.json"));
    // a diffusers folder whose text-encoder subfolders are no family's layout
    const std::string bare = test::scratch_dir("no-text-encoder") + "/model";
    std::filesystem::copy(test::golden_path("tiny-sd1-diffusers"), bare, std::filesystem::copy_options::recursive);
    std::filesystem::remove_all(bare + "/text_encoder");
    CHECK_THROWS_WITH(StableDiffusionModel::load(bare), Catch::Contains("model") && Catch::Contains("text_encoder/"));
}

TEST_CASE("low-memory mode: streamed U-Net weights give the same bits, tiled VAE decode", "[checkpoint][lowmem]") {
    const StableDiffusionModel m = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    const SafetensorsFile u(test::golden_path("unet_sd1.safetensors"));
    const Tensor x = test::batch_item(u.load_f32("x"), 0), ctx = test::batch_item(u.load_f32("context"), 0);
    ForwardContext streamed;
    streamed.stream_weights = true;
    const Tensor a = m.unet().forward(x, 500.0f, {ctx, {}});
    const Tensor b = m.unet().forward(x, 500.0f, {ctx, {}}, streamed);  // weights released after each block
    const Tensor c = m.unet().forward(x, 500.0f, {ctx, {}});            // and read back in afterwards
    CHECK(same_bits(a, b));
    CHECK(same_bits(a, c));

    TorchGenerator g(3);
    const Tensor small = g.randn({4, 8, 8});
    CHECK(same_bits(m.vae().decode_tiled(small, 32, 8), m.vae().decode(small)));  // one tile: the plain decode
    const Tensor large = g.randn({4, 24, 20});
    const Tensor tiled = m.vae().decode_tiled(large, 12, 4), full = m.vae().decode(large);
    REQUIRE(tiled.shape() == full.shape());
    // --low-memory's decode gives each part's weights back after it runs and maps them in again: the same bits
    CHECK(same_bits(m.vae().decode_tiled(large, 12, 4, streamed), tiled));
    for (int64_t i = 0; i < tiled.numel(); ++i) REQUIRE(std::isfinite(tiled[i]));
    // where only the first tile covers the image (before the first overlap), the tiled decode is that tile decoded
    // with the whole picture's group statistics: nearer the whole decode than the tile decoded on its own
    Tensor crop({4, 12, 12});
    for (int64_t c = 0; c < 4; ++c)
        for (int64_t y = 0; y < 12; ++y)
            for (int64_t x = 0; x < 12; ++x) crop[(c * 12 + y) * 12 + x] = large[(c * 24 + y) * 20 + x];
    const Tensor alone = m.vae().decode(crop);
    double err_tiled = 0, err_alone = 0;
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 64; ++y)
            for (int64_t x = 0; x < 64; ++x) {
                const float whole = full[(c * 192 + y) * 160 + x];
                err_tiled += std::fabs(tiled[(c * 192 + y) * 160 + x] - whole);
                err_alone += std::fabs(alone[(c * 96 + y) * 96 + x] - whole);
            }
    INFO("mean error from the whole decode: tiled " << err_tiled / (3 * 64 * 64) << ", the tile alone " << err_alone / (3 * 64 * 64));
    CHECK(err_tiled < 0.9 * err_alone);  // (measured 0.125 and 0.164)
}

TEST_CASE("a .ckpt checkpoint loads like its safetensors twin, --use-ema takes the EMA copy", "[checkpoint][pytorch][golden]") {
    const std::string ckpt = std::string(SDREF_SOURCE_DIR) + "/tests/data/pytorch/tiny-sd1.ckpt";
    // (the fixture was made from the shipped tiny-sd1: compared with it and its U-Net golden, whatever $SDREF_GOLDEN says)
    const StableDiffusionModel st = StableDiffusionModel::load(test::bundled_golden_path("tiny-sd1.safetensors"));
    const StableDiffusionModel pt = StableDiffusionModel::load(ckpt);
    const SafetensorsFile u(test::bundled_golden_path("unet_sd1.safetensors"));
    const Tensor x = test::batch_item(u.load_f32("x"), 0), ctx = test::batch_item(u.load_f32("context"), 0), eps = u.load_f32("eps");
    const float t = u.load_f32("t")[0];
    const Tensor a = pt.unet().forward(x, t, {ctx, {}});
    CHECK(same_bits(a, st.unet().forward(x, t, {ctx, {}})));
    test::check_close("unet from .ckpt", a, test::batch_item(eps, 0), 1e-4);
    // (the tiny text encoder's head count is in the safetensors file's metadata, which a .ckpt does not carry: its
    // weights are compared in test_pytorch_file.cpp)

    // --use-ema: the U-Net of model_ema.diffusion_model* (the fixture's EMA copy: the weights times 0.5), the rest as before
    const StableDiffusionModel ema = StableDiffusionModel::load(ckpt, with_ema());
    const PyTorchFile file(ckpt);
    std::vector<TensorRecord> records;
    for (const TensorView& v : file.tensors()) {
        if (v.name.rfind("model_ema.", 0) == 0) continue;
        const TensorView* src = &v;
        if (v.name.rfind("model.diffusion_model.", 0) == 0) {
            std::string name = "model_ema.diffusion_model";
            for (char c : v.name.substr(22))
                if (c != '.') name += c;
            src = &file.get(name);
        }
        records.push_back({v.name, src->dtype, src->shape, std::string(reinterpret_cast<const char*>(src->bytes), src->nbytes)});
    }
    const std::string dir = test::scratch_dir("ema");
    write_safetensors(dir + "/ema.safetensors", records);
    const StableDiffusionModel expected = StableDiffusionModel::load(dir + "/ema.safetensors");
    const Tensor e = ema.unet().forward(x, t, {ctx, {}});
    CHECK(same_bits(e, expected.unet().forward(x, t, {ctx, {}})));
    CHECK_FALSE(same_bits(e, a));
    const std::vector<std::string> unused = ema.unused_tensors();
    CHECK(std::any_of(unused.begin(), unused.end(), [](const std::string& s) { return s.find(": model.diffusion_model.out.2.weight") != std::string::npos; }));
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), with_ema()), Catch::Contains("--use-ema"));
}

TEST_CASE("a diffusers folder's tokenizer config sets the padding (SD 2.x folders pad with \"!\" = 0)", "[checkpoint][golden]") {
    const std::string dir = test::scratch_dir("pad-folder");
    std::filesystem::copy(test::golden_path("tiny-sd1-diffusers"), dir + "/m", std::filesystem::copy_options::recursive);
    std::string config = test::read_bytes(dir + "/m/tokenizer/tokenizer_config.json");
    const size_t at = config.find("\"pad_token\": \"<|endoftext|>\"");
    REQUIRE(at != std::string::npos);
    config.replace(at, 28, "\"pad_token\": \"!\"");
    std::ofstream(dir + "/m/tokenizer/tokenizer_config.json", std::ios::trunc) << config;
    const StableDiffusionModel zero = StableDiffusionModel::load(dir + "/m");
    const StableDiffusionModel end = StableDiffusionModel::load(test::golden_path("tiny-sd1-diffusers"));
    const Tensor a = zero.conditioner().encode("a cat", false, {}).context, b = end.conditioner().encode("a cat", false, {}).context;
    // the same up to the end token ("a", "cat": positions 0..3), different in the padding after it
    const int64_t D = a.dim(1);
    CHECK(std::memcmp(a.data(), b.data(), size_t(4 * D) * 4) == 0);
    CHECK(std::memcmp(a.data() + 4 * D, b.data() + 4 * D, size_t(D) * 4) != 0);
}
