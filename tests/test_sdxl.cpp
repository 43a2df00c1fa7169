// SDXL modules against set v2's goldens: both text encoders and the conditioner (clip_text_sdxl), the U-Net with
// label_emb and micro-conditioning (unet_sdxl), model detection and its defaults. Whole generations are in
// test_pipeline.cpp. Tolerances: tests/golden/v1/README.md's module bound (1e-4 of the largest value).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "golden.h"
#include "io/safetensors.h"
#include "loader/checkpoint.h"
#include "models/key_names.h"
#include "pipeline/generate.h"

using namespace sdref;

namespace {

constexpr double kModuleTol = 1e-4;

std::vector<int> ids_of(const SafetensorsFile& g, const std::string& name) {
    const Tensor t = g.load_f32(name);
    std::vector<int> ids;
    for (int64_t i = 0; i < t.numel(); ++i) ids.push_back(int(t[i]));
    return ids;
}

}  // namespace

TEST_CASE("SDXL's two text encoders and its conditioner match clip_text_sdxl", "[sdxl][clip][golden]") {
    const SafetensorsFile g(test::golden_v2_path("clip_text_sdxl.safetensors"));
    const std::string prompt = g.meta("prompt");
    const std::vector<int> ids_l = ids_of(g, "input_ids_l"), ids_g = ids_of(g, "input_ids_g");
    // the two tokenizations: the end token pads encoder 1 (CLIP-L), 0 pads encoder 2 (OpenCLIP-G)
    CHECK(ClipTokenizer::builtin().encode_padded(prompt, ClipTokenizer::kPadSd1) == ids_l);
    CHECK(ClipTokenizer::builtin().encode_padded(prompt, ClipTokenizer::kPadSd2) == ids_g);

    auto store = std::make_shared<WeightStore>();
    store->add_file(test::golden_v2_path("tiny-sdxl.safetensors"));
    const Json meta = text_config_metadata(*store);
    const ClipTextEncoder l = ClipTextEncoder::load(store, meta.find("clip_l"), "conditioner.embedders.0.");
    const ClipTextEncoder G = ClipTextEncoder::load(store, meta.find("clip_g"), "conditioner.embedders.1.");
    const ClipTextOutput ol = l.forward(ids_l), og = G.forward(ids_g);
    const Tensor pen_l = test::batch_item(g.load_f32("penultimate_l"), 0), pen_g = test::batch_item(g.load_f32("penultimate_g"), 0);
    const Tensor pooled = test::batch_item(g.load_f32("pooled_projected_g"), 0);
    test::check_close("penultimate_l", ol.hidden[ol.hidden.size() - 2], pen_l, kModuleTol);
    test::check_close("penultimate_g", og.hidden[og.hidden.size() - 2], pen_g, kModuleTol);
    test::check_close("pooled_projected_g", TextProjection::load(*store, "conditioner.embedders.1.", 64).apply(og.pooled), pooled, kModuleTol);

    // the conditioner: context = [penultimate_l | penultimate_g], y starts with the projected pooled vector
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    CHECK(model.info().family == &sdxl_family());
    ConditioningOptions o;
    o.width = o.height = 1024;
    const Conditioning c = model.conditioner().encode(prompt, false, o);
    test::check_close("context", c.context, concat_features(pen_l, pen_g), kModuleTol);
    REQUIRE(c.vector.numel() == model.unet().config().adm_in_channels);
    test::check_close("y's pooled part", c.vector.data(), pooled.data(), size_t(pooled.numel()), kModuleTol);
    // an empty negative prompt is zeros (force_zeros_for_empty_prompt); a non-empty one is encoded
    const Conditioning empty = model.conditioner().encode("", true, o);
    for (int64_t i = 0; i < empty.context.numel(); ++i) REQUIRE(empty.context[i] == 0.0f);
    for (int64_t i = 0; i < pooled.numel(); ++i) REQUIRE(empty.vector[i] == 0.0f);
    CHECK(model.conditioner().encode("", false, o).context[0] != 0.0f);
}

TEST_CASE("the SDXL U-Net with label_emb and micro-conditioning matches unet_sdxl", "[sdxl][unet][golden]") {
    const SafetensorsFile g(test::golden_v2_path("unet_sdxl.safetensors"));
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    const UNetConfig& c = model.unet().config();
    CHECK(c.channels.size() == 3);
    CHECK_FALSE(c.attention[0]);
    const Tensor x = g.load_f32("x"), t = g.load_f32("t"), ctx = g.load_f32("context"), pooled = g.load_f32("text_embeds"),
                 ids = g.load_f32("time_ids"), eps = g.load_f32("eps");
    for (int64_t b = 0; b < x.dim(0); ++b) {
        const Tensor time_ids = test::batch_item(ids, b);
        const std::vector<float> values(time_ids.data(), time_ids.data() + time_ids.numel());
        const Conditioning cond{test::batch_item(ctx, b), micro_vector(test::batch_item(pooled, b), values, c.adm_in_channels, "unet_sdxl")};
        test::check_close("eps " + std::to_string(b), model.unet().forward(test::batch_item(x, b), t[b], cond), test::batch_item(eps, b), kModuleTol);
    }
    // a vector of the wrong width is an error naming label_emb
    CHECK_THROWS_WITH(model.unet().forward(test::batch_item(x, 0), t[0], {test::batch_item(ctx, 0), {}}), Catch::Contains("label_emb"));
}

TEST_CASE("SDXL checkpoints: family, refiner and defaults are detected from the tensors", "[sdxl][checkpoint][golden]") {
    const StableDiffusionModel base = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    CHECK(std::string(base.info().family->name) == "SDXL");
    CHECK(base.denoiser().info().default_width == 1024);
    CHECK(base.denoiser().info().default_height == 1024);
    CHECK(base.denoiser().info().vae_scale == 0.13025f);
    CHECK(base.denoiser().info().scheduler.timestep_spacing == "leading");
    // unused: logit_scale (only CLIP's contrastive training uses it), nothing of the models
    const std::vector<std::string> unused = base.unused_tensors();
    CHECK(std::any_of(unused.begin(), unused.end(), [](const std::string& u) { return u.find("logit_scale") != std::string::npos; }));
    for (const std::string& u : unused) CHECK(u.find("model.diffusion_model.") == std::string::npos);
    const StableDiffusionModel refiner = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl-refiner.safetensors"));
    CHECK(refiner.info().family == &sdxl_refiner_family());
    CHECK(refiner.unet().config().channels.size() == 4);
    // the refiner's unconditional side takes the negative aesthetic score
    ConditioningOptions o;
    o.width = o.height = 128;
    const Conditioning pos = refiner.conditioner().encode("a cat", false, o), neg = refiner.conditioner().encode("a cat", true, o);
    CHECK(pos.context.shape() == neg.context.shape());
    const int64_t last = pos.vector.numel() - 1;
    CHECK(pos.vector[last] != neg.vector[last]);
}

namespace {

// A diffusers SDXL folder holding a single file's weights, written the way diffusers' conversion script lays
// them out: unet/ and vae/ under diffusers' names, text_encoder/ (CLIP-L, Hugging Face names) and text_encoder_2/
// (OpenCLIP-G rewritten as CLIPTextModelWithProjection: in_proj split into q/k/v, text_projection transposed),
// configs from the file's metadata. A refiner's single encoder goes to text_encoder_2/ alone.
void write_diffusers_folder(const std::string& file, const std::string& dir, const std::string& scheduler_config) {
    const SafetensorsFile src(file);
    const Json unet_config = Json::parse(src.meta("unet_config"), "unet_config"), vae_config = Json::parse(src.meta("vae_config"), "vae_config");
    const Json text_config = Json::parse(src.meta("text_config"), "text_config");
    const int64_t L = unet_config.at("layers_per_block").as_int(), levels = int64_t(vae_config.at("block_out_channels").items().size());
    const bool refiner = !text_config.find("clip_l");
    std::map<std::string, std::vector<TensorRecord>> files;  // folder -> tensors
    auto bytes_of = [](const TensorView& v) { return std::string(reinterpret_cast<const char*>(v.bytes), v.nbytes); };
    auto starts = [](const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; };
    const std::string g_prefix = refiner ? "conditioner.embedders.0.model." : "conditioner.embedders.1.model.";
    for (const TensorView& v : src.tensors()) {
        const std::string& n = v.name;
        if (starts(n, "model.diffusion_model.")) {
            files["unet"].push_back({diffusers_unet_name(n.substr(22), L), v.dtype, v.shape, bytes_of(v)});
        } else if (starts(n, "first_stage_model.")) {
            files["vae"].push_back({diffusers_vae_name(n.substr(18), levels), v.dtype, v.shape, bytes_of(v)});
        } else if (starts(n, "conditioner.embedders.0.transformer.")) {
            files["text_encoder"].push_back({n.substr(36), v.dtype, v.shape, bytes_of(v)});
        } else if (starts(n, g_prefix)) {
            std::string r = n.substr(g_prefix.size());
            const size_t e = dtype_size(v.dtype);
            std::vector<TensorRecord>& out = files["text_encoder_2"];
            if (r == "logit_scale") continue;
            if (r == "text_projection") {  // [D, P] -> text_projection.weight [P, D]
                const int64_t D = v.shape[0], P = v.shape[1];
                std::string t(v.nbytes, '\0');
                for (int64_t i = 0; i < D; ++i)
                    for (int64_t j = 0; j < P; ++j) std::memcpy(&t[size_t(j * D + i) * e], v.bytes + size_t(i * P + j) * e, e);
                out.push_back({"text_projection.weight", v.dtype, {P, D}, t});
                continue;
            }
            static const std::pair<const char*, const char*> names[] = {
                {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
                {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
                {"ln_final.", "text_model.final_layer_norm."}, {"transformer.resblocks.", "text_model.encoder.layers."},
                {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"attn.out_proj.", "self_attn.out_proj."},
                {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."}};
            for (const auto& [from, to] : names)
                if (const size_t at = r.find(from); at != std::string::npos) r = r.substr(0, at) + to + r.substr(at + std::strlen(from));
            if (const size_t at = r.find("attn.in_proj_"); at != std::string::npos) {  // [3D, ...] -> q, k, v
                const std::string layer = r.substr(0, at), kind = r.substr(at + 13);
                Shape s = v.shape;
                s[0] /= 3;
                const size_t part = v.nbytes / 3;
                const char* qkv[] = {"q", "k", "v"};
                for (int i = 0; i < 3; ++i)
                    out.push_back({layer + "self_attn." + qkv[i] + "_proj." + kind, v.dtype, s,
                                   std::string(reinterpret_cast<const char*>(v.bytes) + size_t(i) * part, part)});
                continue;
            }
            out.push_back({r, v.dtype, v.shape, bytes_of(v)});
        }
    }
    auto write_text = [](const std::string& path, const std::string& text) { std::ofstream(path) << text; };
    for (auto& [folder, records] : files) {
        std::filesystem::create_directories(dir + "/" + folder);
        const bool encoder = folder.rfind("text_encoder", 0) == 0;
        write_safetensors(dir + "/" + folder + (encoder ? "/model.safetensors" : "/diffusion_pytorch_model.safetensors"), records);
    }
    write_text(dir + "/unet/config.json", src.meta("unet_config"));
    write_text(dir + "/vae/config.json", src.meta("vae_config"));
    auto encoder_config = [&](const Json& c) {
        return "{\"num_attention_heads\": " + std::to_string(c.at("heads").as_int()) + ", \"hidden_act\": \"" + c.at("act").as_string() + "\"}";
    };
    if (!refiner) write_text(dir + "/text_encoder/config.json", encoder_config(text_config.at("clip_l")));
    write_text(dir + "/text_encoder_2/config.json", encoder_config(text_config.at("clip_g")));
    std::filesystem::create_directories(dir + "/scheduler");
    write_text(dir + "/scheduler/scheduler_config.json", scheduler_config);
    write_text(dir + "/model_index.json", std::string("{\"_class_name\": \"StableDiffusionXL") + (refiner ? "Img2Img" : "") +
                                              "Pipeline\", \"force_zeros_for_empty_prompt\": " + (refiner ? "false" : "true") + "}");
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * 4) == 0;
}

}  // namespace

TEST_CASE("SDXL base and refiner as diffusers folders (text_encoder_2, add_embedding) load like the single files", "[sdxl][checkpoint][golden]") {
    CHECK(diffusers_unet_name("label_emb.0.0.weight", 2) == "add_embedding.linear_1.weight");
    CHECK(diffusers_unet_name("label_emb.0.2.bias", 2) == "add_embedding.linear_2.bias");
    const std::string scheduler_config = SafetensorsFile(test::golden_v2_path("pipe_sdxl_euler.safetensors")).meta("scheduler_config");
    const SafetensorsFile u(test::golden_v2_path("unet_sdxl.safetensors"));
    const Tensor x = test::batch_item(u.load_f32("x"), 0);
    for (const char* name : {"tiny-sdxl", "tiny-sdxl-refiner"}) {
        INFO(name);
        const std::string dir = test::scratch_dir(std::string(name) + "-diffusers");
        write_diffusers_folder(test::golden_v2_path(std::string(name) + ".safetensors"), dir, scheduler_config);
        const StableDiffusionModel file = StableDiffusionModel::load(test::golden_v2_path(std::string(name) + ".safetensors"));
        const StableDiffusionModel folder = StableDiffusionModel::load(dir);
        CHECK(folder.info().family == file.info().family);
        CHECK(folder.denoiser().info().vae_scale == file.denoiser().info().vae_scale);
        CHECK(folder.denoiser().info().scheduler.timestep_spacing == "leading");
        ConditioningOptions o;
        o.width = o.height = 128;
        for (bool negative : {false, true}) {
            const Conditioning a = file.conditioner().encode(negative ? "" : "a photo of a cat", negative, o);
            const Conditioning b = folder.conditioner().encode(negative ? "" : "a photo of a cat", negative, o);
            CHECK(same_bits(a.context, b.context));
            CHECK(same_bits(a.vector, b.vector));
        }
        const Conditioning c = file.conditioner().encode("a photo of a cat", false, o);
        CHECK(same_bits(file.unet().forward(x, 500.0f, c), folder.unet().forward(x, 500.0f, c)));
        CHECK(same_bits(file.vae().decode(x), folder.vae().decode(x)));
        CHECK(folder.unused_tensors().empty());
    }
}

TEST_CASE("a checkpoint whose text encoders sdref does not know is an error that says what it found", "[sdxl][checkpoint]") {
    const std::string dir = test::scratch_dir("unknown-layout");
    const SafetensorsFile src(test::golden_v2_path("tiny-sdxl.safetensors"));
    std::vector<TensorRecord> records;
    for (const TensorView& v : src.tensors())
        if (v.name.rfind("conditioner.embedders.0.", 0) != 0 && v.name.rfind("conditioner.embedders.1.", 0) != 0)
            records.push_back({v.name, v.dtype, v.shape, std::string(reinterpret_cast<const char*>(v.bytes), v.nbytes)});
    records.push_back({"text_encoders.clip_l.weight", DType::F16, {2}, std::string(4, '\0')});
    write_safetensors(dir + "/odd.safetensors", records);
    CHECK_THROWS_WITH(StableDiffusionModel::load(dir + "/odd.safetensors"),
                      Catch::Contains("odd.safetensors") && Catch::Contains("not a model layout") &&
                          Catch::Contains("text_encoders.clip_l.* (1)") && Catch::Contains("model.diffusion_model.*"));
}

TEST_CASE("SDXL prompts: BREAK and long prompts chunk both encoders, weights keep each encoder's mean", "[sdxl][clip][golden]") {
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    const Conditioner& c = model.conditioner();
    ConditioningOptions o;
    o.width = o.height = 128;
    const Conditioning both = c.encode("a photo of a cat BREAK a dog", false, o);
    const Conditioning first = c.encode("a photo of a cat", false, o), second = c.encode("a dog", false, o);
    const int64_t T = ClipTokenizer::kContextLength, D = first.context.dim(1);
    REQUIRE(both.context.shape() == Shape{2 * T, D});
    CHECK(std::memcmp(both.context.data(), first.context.data(), size_t(T * D) * 4) == 0);
    CHECK(std::memcmp(both.context.data() + T * D, second.context.data(), size_t(T * D) * 4) == 0);
    CHECK(std::memcmp(both.vector.data(), first.vector.data(), size_t(first.vector.numel()) * 4) == 0);  // pooled: chunk 1

    // emphasis scales the tokens, then each encoder's part is rescaled to its unweighted mean
    const Conditioning plain = c.encode("a photo of a cat", false, o), weighted = c.encode("a photo of a (cat:1.5)", false, o);
    WeightStore store;
    store.add_file(test::golden_v2_path("tiny-sdxl.safetensors"));
    const int64_t Dl = text_config_metadata(store).at("clip_l").at("width").as_int();  // CLIP-L: each row's first features
    REQUIRE(model.unet().config().context_dim == D);
    for (const auto& [from, to] : {std::pair<int64_t, int64_t>{0, Dl}, std::pair<int64_t, int64_t>{Dl, D}}) {
        double a = 0, b = 0, diff = 0;
        for (int64_t t = 0; t < T; ++t)
            for (int64_t d = from; d < to; ++d) {
                a += plain.context[t * D + d];
                b += weighted.context[t * D + d];
                diff += std::fabs(plain.context[t * D + d] - weighted.context[t * D + d]);
            }
        CHECK(std::fabs(a - b) <= 1e-3 * std::max(1.0, std::fabs(a)));
        CHECK(diff > 1e-3);
    }
}

TEST_CASE("a 9-channel SDXL inpainting U-Net is detected and gets the mask and the masked image", "[sdxl][checkpoint][golden]") {
    // tiny-sdxl with conv_in widened to 9 input channels, the 5 new ones zero: it must predict what tiny-sdxl does
    const std::string dir = test::scratch_dir("sdxl-inpaint");
    const SafetensorsFile src(test::golden_v2_path("tiny-sdxl.safetensors"));
    std::vector<TensorRecord> records;
    for (const TensorView& v : src.tensors()) {
        TensorRecord r{v.name, v.dtype, v.shape, std::string(reinterpret_cast<const char*>(v.bytes), v.nbytes)};
        if (v.name == "model.diffusion_model.input_blocks.0.0.weight") {
            const int64_t out = v.shape[0], in = v.shape[1], k = v.shape[2] * v.shape[3];
            const size_t e = dtype_size(v.dtype);
            r.shape[1] = 9;
            r.bytes.assign(size_t(out * 9 * k) * e, '\0');
            for (int64_t o = 0; o < out; ++o) std::memcpy(&r.bytes[size_t(o * 9 * k) * e], v.bytes + size_t(o * in * k) * e, size_t(in * k) * e);
        }
        records.push_back(r);
    }
    std::map<std::string, std::string> meta;
    for (const char* key : {"unet_config", "vae_config", "text_config"}) meta[key] = src.meta(key);
    write_safetensors(dir + "/inpaint.safetensors", records, meta);
    const StableDiffusionModel inpaint = StableDiffusionModel::load(dir + "/inpaint.safetensors");
    const StableDiffusionModel base = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    CHECK(inpaint.info().family == &sdxl_family());
    CHECK(inpaint.denoiser().info().inpainting);

    const SafetensorsFile u(test::golden_v2_path("unet_sdxl.safetensors"));
    const Tensor x = test::batch_item(u.load_f32("x"), 0);
    ConditioningOptions o;
    o.width = o.height = 128;
    const Conditioning c = base.conditioner().encode("a cat", false, o);
    Tensor x9({9, x.dim(1), x.dim(2)});
    std::copy_n(x.data(), x.numel(), x9.data());
    for (int64_t i = x.numel(); i < x9.numel(); ++i) x9[i] = float(i % 7) - 3.0f;
    test::check_close("9-channel U-Net with zero extra weights", inpaint.unet().forward(x9, 500.0f, c), base.unet().forward(x, 500.0f, c), 1e-5);

    // a whole inpainting generation runs end to end (non-finite values would be an error)
    Image init{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3, 128)}, mask{32, 32, 1, std::vector<uint8_t>(32 * 32, 0)};
    for (int y = 8; y < 24; ++y)
        for (int xx = 8; xx < 24; ++xx) mask.pixels[size_t(y * 32 + xx)] = 255;
    GenerationParams p;
    p.prompt = "a cat";
    p.width = p.height = 32;
    p.init_image = &init;
    p.mask = &mask;
    auto sched = make_scheduler("euler", "discrete", inpaint.denoiser().info().scheduler);
    const GenerationResult r = generate(inpaint, p, *sched, 3);
    CHECK(r.image.shape() == Shape{3, 32, 32});
}

TEST_CASE("an SDXL LoRA (lora_te1_, lora_te2_, lora_unet_) changes the single file and the diffusers folder alike", "[sdxl][addons][lora][golden]") {
    // kohya names for both text encoders and the U-Net; lora_te2_'s q/k/v reach OpenCLIP's fused in_proj row by row
    // in the single file, and separate q/k/v projections in the folder
    const std::string dir = test::scratch_dir("sdxl-lora");
    const SafetensorsFile base(test::golden_v2_path("tiny-sdxl.safetensors"));
    const Json meta = Json::parse(base.meta("text_config"), "text_config");
    const int64_t Dl = meta.at("clip_l").at("width").as_int(), Dg = meta.at("clip_g").at("width").as_int(), r = 2;
    std::vector<TensorRecord> records;
    uint32_t seed = 1;
    auto random = [&](const std::string& name, Shape shape) {
        std::string bytes(size_t(shape_numel(shape)) * 4, '\0');
        for (int64_t i = 0; i < shape_numel(shape); ++i) {
            seed = seed * 1664525u + 1013904223u;
            const float v = (float(seed >> 8) / float(1 << 24) - 0.5f) * 0.2f;
            std::memcpy(&bytes[size_t(i) * 4], &v, 4);
        }
        records.push_back({name, DType::F32, shape, bytes});
    };
    auto layer = [&](const std::string& module, int64_t out, int64_t in) {
        random(module + ".lora_down.weight", {r, in});
        random(module + ".lora_up.weight", {out, r});
    };
    layer("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", Dl, Dl);
    for (const char* m : {"q_proj", "k_proj", "v_proj", "out_proj"}) layer(std::string("lora_te2_text_model_encoder_layers_1_self_attn_") + m, Dg, Dg);
    layer("lora_te2_text_model_encoder_layers_2_mlp_fc1", 4 * Dg, Dg);
    layer("lora_unet_down_blocks_1_attentions_0_proj_in", 64, 64);
    write_safetensors(dir + "/sdxl-lora.safetensors", records);
    write_diffusers_folder(test::golden_v2_path("tiny-sdxl.safetensors"), dir + "/folder",
                           SafetensorsFile(test::golden_v2_path("pipe_sdxl_euler.safetensors")).meta("scheduler_config"));
    CheckpointOverrides o;
    o.loras = {{dir + "/sdxl-lora.safetensors", 0.9f}};
    const StableDiffusionModel file = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"), o);
    const StableDiffusionModel folder = StableDiffusionModel::load(dir + "/folder", o);
    const StableDiffusionModel plain = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    CHECK(file.lora_layers() == 7);
    ConditioningOptions c;
    c.width = c.height = 128;
    const Conditioning a = file.conditioner().encode("a photo of a cat", false, c), b = folder.conditioner().encode("a photo of a cat", false, c);
    test::check_close("context, file vs folder", a.context, b.context, 1e-5);
    test::check_close("vector, file vs folder", a.vector, b.vector, 1e-5);
    CHECK_FALSE(same_bits(a.context, plain.conditioner().encode("a photo of a cat", false, c).context));
    const Tensor x = test::batch_item(SafetensorsFile(test::golden_v2_path("unet_sdxl.safetensors")).load_f32("x"), 0);
    test::check_close("U-Net, file vs folder", file.unet().forward(x, 500.0f, a), folder.unet().forward(x, 500.0f, a), 1e-5);
}
