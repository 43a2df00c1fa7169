// SD 3 as users bring it: the tiny SD 3 file of set v3 cut into the pieces users download (a transformer + VAE
// file without encoders, ComfyUI-style clip_l / clip_g / t5xxl files), its diffusers folder, an FP8 T5, LoRAs in
// kohya's and PEFT's names; the pieces and the folder give the single file's bits; what is wrong with the pieces is
// a clear error naming the file and the flag.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "golden.h"
#include "io/safetensors.h"
#include "kernels/convert.h"
#include "pipeline/generate.h"
#include "schedulers/scheduler.h"

using namespace sdref;

namespace {

// The tensors of the tiny SD 3 file whose names start with `prefix` (or, `except` set, do not), written under their
// names less `strip` (`rename` may change a name further), with the file's metadata.
std::string cut(const std::string& dir, const std::string& file, const std::string& prefix, const std::string& strip,
                std::string (*rename)(const std::string&) = nullptr, bool except = false) {
    const SafetensorsFile src(test::golden_v3_path("tiny-sd3.safetensors"));
    std::vector<TensorRecord> records;
    for (const TensorView& t : src.tensors()) {
        if ((t.name.rfind(prefix, 0) == 0) == except) continue;
        std::string name = t.name.substr(strip.size());
        if (rename) name = rename(name);
        records.push_back({name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(t.bytes), t.nbytes)});
    }
    REQUIRE(!records.empty());
    std::map<std::string, std::string> meta;
    for (const auto& [k, v] : src.metadata()) meta[k] = v;
    write_safetensors(dir + "/" + file, records, meta);
    return dir + "/" + file;
}

// A txt2img picture's final latents and image, as generate() makes them, from a model.
GenerationResult picture(const StableDiffusionModel& model) {
    GenerationParams p;
    p.prompt = "a lighthouse at dusk";
    p.negative_prompt = "blurry";
    p.width = p.height = 64;
    p.cfg_scale = 4.5f;
    p.seed = 5;
    std::unique_ptr<Scheduler> s = make_scheduler("euler", "discrete", model.denoiser().info().scheduler);
    return generate(model, p, *s, 3);
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.numel(), b.data());
}

}  // namespace

TEST_CASE("SD 3 from separate files: transformer + VAE, --clip-l, --clip-g, --t5xxl give the single file's bits", "[sd3]") {
    const std::string dir = test::scratch_dir("sd3-parts");
    CheckpointOverrides parts;
    // the transformer and the VAE together, as sd3.5_medium.safetensors ships them
    const std::string base = cut(dir, "sd3-no-encoders.safetensors", "text_encoders.", "", nullptr, /*except=*/true);
    // ComfyUI's layouts: CLIP-L bare, CLIP-G under transformer., T5 bare with only the tied embedding name
    parts.clip_l = cut(dir, "clip_l.safetensors", "text_encoders.clip_l.transformer.", "text_encoders.clip_l.transformer.");
    parts.clip_g = cut(dir, "clip_g.safetensors", "text_encoders.clip_g.", "text_encoders.clip_g.");
    parts.t5xxl = cut(dir, "t5xxl.safetensors", "text_encoders.t5xxl.transformer.", "text_encoders.t5xxl.transformer.",
                      [](const std::string& n) { return n == "shared.weight" ? std::string("encoder.embed_tokens.weight") : n; });

    const StableDiffusionModel whole = StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"));
    const StableDiffusionModel pieces = StableDiffusionModel::load(base, parts);
    CHECK(std::string(pieces.info().family->name) == "SD 3");
    const GenerationResult a = picture(whole), b = picture(pieces);
    CHECK(same_bits(a.latents, b.latents));
    CHECK(same_bits(a.image, b.image));

    // without T5 (--no-t5, or no T5 file): the T5 tokens are zeros, another picture
    CheckpointOverrides no_t5 = parts;
    no_t5.t5xxl.clear();
    CHECK_FALSE(same_bits(picture(StableDiffusionModel::load(base, no_t5)).latents, a.latents));
    CheckpointOverrides skip;
    skip.skip_t5 = true;
    CHECK(same_bits(picture(StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"), skip)).latents,
                    picture(StableDiffusionModel::load(base, no_t5)).latents));
}

TEST_CASE("the diffusers folder of the tiny SD 3 model gives the single file's bits (q, k, v joined, swapped modulations reordered)", "[sd3]") {
    const StableDiffusionModel file = StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"));
    const StableDiffusionModel folder = StableDiffusionModel::load(test::golden_v3_path("tiny-sd3-diffusers"));
    CHECK(std::string(folder.info().family->name) == "SD 3");
    CHECK(folder.denoiser().info().scheduler.shift == file.denoiser().info().scheduler.shift);
    const GenerationResult a = picture(file), b = picture(folder);
    CHECK(same_bits(a.latents, b.latents));
    CHECK(same_bits(a.image, b.image));
}

TEST_CASE("an FP8 E4M3FN T5 (t5xxl_fp8_e4m3fn) gives the bits of the same values stored in fp32", "[sd3]") {
    // the tiny T5 rounded to E4M3FN (nearest of the 254 finite values), once stored as F8_E4M3, once as F32
    const std::string dir = test::scratch_dir("sd3-fp8");
    const SafetensorsFile src(test::golden_v3_path("tiny-sd3.safetensors"));
    const std::string p = "text_encoders.t5xxl.transformer.";
    std::vector<std::pair<float, uint8_t>> finite;
    for (int v = 0; v < 256; ++v)
        if (!std::isnan(kernels::f8e4m3_to_f32(uint8_t(v)))) finite.emplace_back(kernels::f8e4m3_to_f32(uint8_t(v)), uint8_t(v));
    std::vector<TensorRecord> fp8, fp32;
    for (const TensorView& t : src.tensors()) {
        if (t.name.rfind(p, 0) != 0) continue;
        const Tensor values = t.to_f32();
        std::string bytes8(size_t(values.numel()), '\0'), bytes32(size_t(values.numel()) * 4, '\0');
        for (int64_t i = 0; i < values.numel(); ++i) {
            const auto best = std::min_element(finite.begin(), finite.end(), [&](const auto& a, const auto& b) {
                return std::fabs(a.first - values[i]) < std::fabs(b.first - values[i]);
            });
            bytes8[size_t(i)] = char(best->second);
            std::memcpy(&bytes32[size_t(i) * 4], &best->first, 4);
        }
        fp8.push_back({t.name.substr(p.size()), DType::F8_E4M3, t.shape, bytes8});
        fp32.push_back({t.name.substr(p.size()), DType::F32, t.shape, bytes32});
    }
    write_safetensors(dir + "/t5xxl_fp8_e4m3fn.safetensors", fp8);
    write_safetensors(dir + "/t5xxl_fp32.safetensors", fp32);
    CheckpointOverrides a, b;
    a.t5xxl = dir + "/t5xxl_fp8_e4m3fn.safetensors";
    b.t5xxl = dir + "/t5xxl_fp32.safetensors";
    const StableDiffusionModel with_fp8 = StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"), a);
    const StableDiffusionModel with_fp32 = StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"), b);
    const ConditioningOptions o;
    const Conditioning x = with_fp8.conditioner().encode("a red fox in the snow", false, o);
    const Conditioning y = with_fp32.conditioner().encode("a red fox in the snow", false, o);
    CHECK(same_bits(x.context, y.context));
    // and it is the T5 that changed: the rounded weights move the T5 tokens
    const Conditioning z = StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors")).conditioner().encode("a red fox in the snow", false, o);
    CHECK_FALSE(same_bits(x.context, z.context));
}

TEST_CASE("SD 3's bad pieces are clear errors: no encoders, the wrong file for a flag, a T5 of another width, a cut file", "[sd3]") {
    const std::string dir = test::scratch_dir("sd3-bad");
    const std::string base = cut(dir, "base.safetensors", "model.diffusion_model.", "");
    // a transformer without its encoders
    CHECK_THROWS_WITH(StableDiffusionModel::load(base), Catch::Contains("CLIP-L") && Catch::Contains("--clip-l"));
    // a CLIP-G file given as T5
    CheckpointOverrides wrong;
    wrong.t5xxl = cut(dir, "clip_g.safetensors", "text_encoders.clip_g.", "text_encoders.clip_g.");
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"), wrong),
                      Catch::Contains("--t5xxl") && Catch::Contains("clip_g.safetensors"));
    // a T5 of another width: every tensor's d_model side halved
    {
        const SafetensorsFile src(test::golden_v3_path("tiny-sd3.safetensors"));
        const std::string p = "text_encoders.t5xxl.transformer.";
        const int64_t d = src.get(p + "shared.weight").shape[1];
        std::vector<TensorRecord> records;
        for (const TensorView& t : src.tensors()) {
            if (t.name.rfind(p, 0) != 0) continue;
            Shape shape = t.shape;
            for (int64_t& s : shape) s = s == d ? d / 2 : s;
            records.push_back({t.name.substr(p.size()), DType::F32, shape, std::string(size_t(shape_numel(shape)) * 4, '\0')});
        }
        write_safetensors(dir + "/t5-narrow.safetensors", records);
        CheckpointOverrides narrow;
        narrow.t5xxl = dir + "/t5-narrow.safetensors";
        CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"), narrow),
                          Catch::Contains("T5") && Catch::Contains(std::to_string(d / 2) + " wide") && Catch::Contains(std::to_string(d)));
    }
    // a truncated single file
    const std::string cut_file = dir + "/truncated.safetensors";
    std::filesystem::copy_file(test::golden_v3_path("tiny-sd3.safetensors"), cut_file);
    std::filesystem::resize_file(cut_file, std::filesystem::file_size(cut_file) / 2);
    CHECK_THROWS_WITH(StableDiffusionModel::load(cut_file), Catch::Contains("truncated.safetensors"));
    // skip-layer guidance on a U-Net model, and blocks the transformer does not have
    GenerationParams p;
    p.prompt = "x";
    p.width = p.height = 64;
    p.slg.scale = 2.8f;
    const StableDiffusionModel sd1 = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    std::unique_ptr<Scheduler> s = make_scheduler("euler", "discrete", sd1.denoiser().info().scheduler);
    CHECK_THROWS_WITH(generate(sd1, p, *s, 2), Catch::Contains("skip-layer guidance") && Catch::Contains("U-Net"));
    const StableDiffusionModel sd3 = StableDiffusionModel::load(test::golden_v3_path("tiny-sd3.safetensors"));
    p.slg.layers = {int(sd3.denoiser().info().layers)};
    s = make_scheduler("euler", "discrete", sd3.denoiser().info().scheduler);
    CHECK_THROWS_WITH(generate(sd3, p, *s, 2), Catch::Contains("layer " + std::to_string(sd3.denoiser().info().layers)));
}

// A PEFT LoRA on SD 3's to_q / to_k / to_v (diffusers' names, thirds of the original fused qkv) and the kohya LoRA on
// the fused qkv it amounts to (down stacked, up block-diagonal) change the transformer alike; both change it.
TEST_CASE("an SD 3 LoRA in PEFT names (transformer.*.to_q/to_k/to_v) merges like its kohya twin on the fused qkv", "[sd3][lora]") {
    const std::string dir = test::scratch_dir("sd3-lora");
    const std::string model = test::golden_v3_path("tiny-sd3.safetensors");
    const SafetensorsFile src(model);
    const int64_t H = src.get("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight").shape[1], r = 2;
    std::mt19937 gen(3);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    auto random = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n), 0.0f);
        for (float& x : v) x = normal(gen);
        return v;
    };
    auto record = [](const std::string& name, const Shape& shape, const std::vector<float>& v) {
        return TensorRecord{name, DType::F32, shape, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4)};
    };
    std::vector<TensorRecord> peft;
    std::vector<float> down_all(size_t(3 * r * H)), up_all(size_t(3 * H * 3 * r), 0.0f);
    const char* names[3] = {"to_q", "to_k", "to_v"};
    for (int i = 0; i < 3; ++i) {
        const std::vector<float> down = random(r * H), up = random(H * r);
        const std::string m = std::string("transformer.transformer_blocks.0.attn.") + names[i];
        peft.push_back(record(m + ".lora_A.weight", {r, H}, down));
        peft.push_back(record(m + ".lora_B.weight", {H, r}, up));
        std::copy(down.begin(), down.end(), down_all.begin() + i * r * H);
        for (int64_t row = 0; row < H; ++row)
            for (int64_t k = 0; k < r; ++k) up_all[size_t((i * H + row) * 3 * r + i * r + k)] = up[size_t(row * r + k)];
    }
    write_safetensors(dir + "/peft.safetensors", peft);
    const std::string kohya_module = "lora_unet_joint_blocks_0_x_block_attn_qkv";
    const std::vector<float> alpha = {float(3 * r)};
    write_safetensors(dir + "/kohya.safetensors", {record(kohya_module + ".lora_down.weight", {3 * r, H}, down_all),
                                                   record(kohya_module + ".lora_up.weight", {3 * H, 3 * r}, up_all),
                                                   record(kohya_module + ".alpha", {}, alpha)});
    auto velocity = [&](const std::string& lora) {
        CheckpointOverrides o;
        if (!lora.empty()) o.loras.push_back({lora, 0.8f});
        const StableDiffusionModel m = StableDiffusionModel::load(model, o);
        const Conditioning c = m.conditioner().encode("a cat", false, {});
        Tensor x({m.denoiser().info().latent_channels, 8, 8});
        for (int64_t i = 0; i < x.numel(); ++i) x[i] = std::sin(float(i));
        return m.denoiser().predict(x, 700.0f, c, {}, {});
    };
    const Tensor plain = velocity(""), a = velocity(dir + "/peft.safetensors"), b = velocity(dir + "/kohya.safetensors");
    test::check_close("PEFT vs kohya", a, b, 1e-5);
    double moved = 0;
    for (int64_t i = 0; i < a.numel(); ++i) moved = std::max(moved, double(std::fabs(a[i] - plain[i])));
    CHECK(moved > 1e-4);  // (without the LoRA the same call gives the same bits: any change is the LoRA's)
    // an SD 1.x LoRA's layers are not the transformer's
    CheckpointOverrides foreign;
    foreign.loras.push_back({dir + "/sd1.safetensors", 1.0f});
    write_safetensors(dir + "/sd1.safetensors", {record("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", {r, H}, random(r * H)),
                                                 record("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", {H, r}, random(H * r))});
    CHECK_THROWS_WITH(StableDiffusionModel::load(model, foreign), Catch::Contains("sd1.safetensors") && Catch::Contains("another model family"));
}
