// Add-ons against set v2's goldens at the module tolerance: a kohya LoRA with LoCon convolutions (U-Net and text
// encoder after merging). The case's parameters — the LoRA's file and multiplier — come from its A1111 prompt tag
// in the golden's metadata, read by the same tag parser the sdref command uses.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "addons/lora.h"
#include "addons/textual_inversion.h"
#include "core/error.h"
#include "golden.h"
#include "io/safetensors.h"
#include "loader/checkpoint.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "text/extra_networks.h"

using namespace sdref;

namespace {

constexpr double kModuleTol = 1e-4;

std::vector<int> row_ids(const Tensor& ids, int64_t b) {
    std::vector<int> out;
    for (int64_t t = 0; t < ids.dim(1); ++t) out.push_back(int(ids[b * ids.dim(1) + t]));
    return out;
}

}  // namespace

TEST_CASE("a kohya LoRA with LoCon convolutions merges as diffusers' reference does", "[addons][lora][golden]") {
    const SafetensorsFile g(test::golden_v2_path("lora.safetensors"));
    std::string prompt = g.meta("a1111_prompt_tag");
    const std::vector<ExtraNetwork> tags = take_extra_networks(&prompt);
    REQUIRE(tags.size() == 1);
    CHECK(tags[0].kind == "lora");
    CHECK(prompt.empty());
    CHECK(tags[0].weight == Approx(std::stod(g.meta("multiplier"))));

    auto store = std::make_shared<WeightStore>();
    store->add_file(test::golden_path("tiny-sd1.safetensors"));
    const LoraReport report = apply_loras(*store, {{test::golden_v2_path(tags[0].name + ".safetensors"), tags[0].weight}}, sd1_family());
    CHECK(report.layers == 15);
    CHECK(report.unused.empty());
    const UNet unet = UNet::load(store);
    const ClipTextEncoder text = ClipTextEncoder::load(store);
    const Tensor x = g.load_f32("x"), t = g.load_f32("t"), ctx = g.load_f32("context"), eps = g.load_f32("eps"), ids = g.load_f32("input_ids"),
                 last = g.load_f32("text_last_hidden_state");
    for (int64_t b = 0; b < x.dim(0); ++b) {
        test::check_close("eps " + std::to_string(b), unet.forward(test::batch_item(x, b), t[b], {test::batch_item(ctx, b), {}}),
                          test::batch_item(eps, b), kModuleTol);
        test::check_close("text " + std::to_string(b), text.forward(row_ids(ids, b)).last_hidden, test::batch_item(last, b), kModuleTol);
    }
}

TEST_CASE("LoRAs: the multiplier scales, two add up, a foreign or damaged LoRA is an error naming it", "[addons][lora][golden]") {
    const std::string lora = test::golden_v2_path("tiny-sd1-lora.safetensors");
    const SafetensorsFile g(test::golden_v2_path("lora.safetensors"));
    const Tensor x = test::batch_item(g.load_f32("x"), 0), ctx = test::batch_item(g.load_f32("context"), 0);
    auto eps_with = [&](const std::vector<LoraSpec>& loras) {
        CheckpointOverrides o;
        o.loras = loras;
        return StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o).unet().forward(x, 500.0f, {ctx, {}});
    };
    const Tensor once = eps_with({{lora, 0.8f}}), twice = eps_with({{lora, 0.4f}, {lora, 0.4f}}), none = eps_with({});
    test::check_close("0.4 + 0.4 = 0.8", twice, once, 1e-5);
    CHECK(std::memcmp(once.data(), none.data(), size_t(once.numel()) * 4) != 0);
    CHECK(std::memcmp(eps_with({{lora, 0.0f}}).data(), none.data(), size_t(none.numel()) * 4) == 0);

    // an SD 1.x LoRA on SDXL: none of its layers exist there
    CheckpointOverrides o;
    o.loras = {{lora, 1.0f}};
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"), o),
                      Catch::Contains("tiny-sd1-lora.safetensors") && Catch::Contains("another model family"));
    // a LoRA whose up weight does not fit its down weight
    const SafetensorsFile src(lora);
    std::vector<TensorRecord> records;
    for (const TensorView& v : src.tensors()) {
        TensorRecord r{v.name, v.dtype, v.shape, std::string(reinterpret_cast<const char*>(v.bytes), v.nbytes)};
        if (v.name == "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight") r.shape = {r.shape[0] / 2, r.shape[1] * 2};
        records.push_back(r);
    }
    const std::string bad = test::scratch_dir("lora-bad") + "/bad.safetensors";
    write_safetensors(bad, records);
    o.loras = {{bad, 1.0f}};
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o),
                      Catch::Contains("bad.safetensors") && Catch::Contains("lora_unet_mid_block_attentions_0_proj_in"));
}

TEST_CASE("A1111 extra-network tags are taken out of the prompt", "[addons]") {
    std::string p = "a cat <lora:style:0.5>, on a mat <hypernet:anime> <b>bold</b>";
    const std::vector<ExtraNetwork> tags = take_extra_networks(&p);
    REQUIRE(tags.size() == 2);
    CHECK(tags[0].name == "style");
    CHECK(tags[0].weight == 0.5f);
    CHECK(tags[1].kind == "hypernet");
    CHECK(tags[1].weight == 1.0f);
    CHECK(p == "a cat , on a mat  <b>bold</b>");
    std::string bad = "x <lora:style:lots>";
    CHECK_THROWS_WITH(take_extra_networks(&bad), Catch::Contains("<lora:style:lots>"));
}

TEST_CASE("a textual inversion (A1111 .pt and .safetensors) stands for its word in the prompt", "[addons][ti][golden]") {
    const SafetensorsFile g(test::golden_v2_path("textual_inversion.safetensors"));
    const std::string word = g.meta("word"), prompt = g.meta("prompt");
    const Tensor expected = test::batch_item(g.load_f32("last_hidden_state"), 0);
    for (const char* ext : {".pt", ".safetensors"}) {
        INFO(ext);
        const std::string file = test::golden_v2_path(word + ext);  // the embedding's word is its file's name
        const TextualInversion ti = load_textual_inversion(file);
        CHECK(ti.name == word);
        test::check_close("vectors", ti.vectors.at(""), g.load_f32("vectors"), 0);
        CheckpointOverrides o;
        o.embeddings = {file};
        const StableDiffusionModel model = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o);
        test::check_close("context with the embedding", model.conditioner().encode(prompt, false, {}).context, expected, kModuleTol);
    }
    // weights apply to the vectors like to any token; without the embedding the word is just its letters
    CheckpointOverrides o;
    o.embeddings = {test::golden_v2_path(word + ".pt")};
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o);
    const StableDiffusionModel plain = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    const Tensor a = model.conditioner().encode(prompt, false, {}).context;
    CHECK(std::memcmp(a.data(), plain.conditioner().encode(prompt, false, {}).context.data(), size_t(a.numel()) * 4) != 0);
    std::string emphasised = prompt;
    emphasised.replace(emphasised.find(word), word.size(), "(" + word + ":1.3)");
    CHECK(std::memcmp(a.data(), model.conditioner().encode(emphasised, false, {}).context.data(), size_t(a.numel()) * 4) != 0);
    // an SD 1.x embedding on SDXL (one encoder's vectors, SDXL needs clip_l and clip_g) is an error naming it
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"), o),
                      Catch::Contains(word + ".pt") && Catch::Contains("clip_l"));
    // a file that is no embedding
    o.embeddings = {test::golden_v2_path("lora.safetensors")};
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o), Catch::Contains("not a textual-inversion"));
}

TEST_CASE("an A1111 hypernetwork changes every attention layer's keys and values as the reference does", "[addons][hypernetwork][golden]") {
    const SafetensorsFile g(test::golden_v2_path("hypernetwork.safetensors"));
    const float strength = float(std::stod(g.meta("strength")));
    CheckpointOverrides o;
    o.hypernetworks = {{test::golden_v2_path("tiny-hn.pt"), strength}};
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o);
    const Tensor x = g.load_f32("x"), t = g.load_f32("t"), ctx = g.load_f32("context"), eps = g.load_f32("eps");
    for (int64_t b = 0; b < x.dim(0); ++b)
        test::check_close("eps " + std::to_string(b), model.unet().forward(test::batch_item(x, b), t[b], {test::batch_item(ctx, b), {}}),
                          test::batch_item(eps, b), kModuleTol);
    // strength 0 is the model itself
    o.hypernetworks = {{test::golden_v2_path("tiny-hn.pt"), 0.0f}};
    const StableDiffusionModel off = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o);
    const StableDiffusionModel plain = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    const Tensor x0 = test::batch_item(x, 0), c0 = test::batch_item(ctx, 0);
    test::check_close("strength 0", off.unet().forward(x0, t[0], {c0, {}}), plain.unet().forward(x0, t[0], {c0, {}}), 1e-6);
    // not a hypernetwork
    o.hypernetworks = {{test::golden_v2_path(test::embedding_word() + ".pt"), 1.0f}};
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o), Catch::Contains("not a hypernetwork"));
}

TEST_CASE("a separate VAE (--vae) replaces the checkpoint's VAE: a diffusers folder or file, or the original names with or without prefix", "[addons][vae][golden]") {
    // tiny-sdxl's VAE (other weights than tiny-sd1's), written the way vae-ft-mse-840000-ema-pruned is: no prefix
    const std::string dir = test::scratch_dir("separate-vae");
    const SafetensorsFile sdxl(test::golden_v2_path("tiny-sdxl.safetensors"));
    std::vector<TensorRecord> bare, prefixed;
    for (const TensorView& v : sdxl.tensors())
        if (v.name.rfind("first_stage_model.", 0) == 0) {
            const std::string bytes(reinterpret_cast<const char*>(v.bytes), v.nbytes);
            bare.push_back({v.name.substr(18), v.dtype, v.shape, bytes});
            prefixed.push_back({v.name, v.dtype, v.shape, bytes});
        }
    write_safetensors(dir + "/bare.safetensors", bare);
    write_safetensors(dir + "/prefixed.safetensors", prefixed);
    const StableDiffusionModel reference = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    const SafetensorsFile v(test::golden_path("vae.safetensors"));
    const Tensor latent = test::batch_item(v.load_f32("latent"), 0);
    const Tensor expected = reference.vae().decode(latent);
    for (const std::string& file : {dir + "/bare.safetensors", dir + "/prefixed.safetensors"}) {
        INFO(file);
        CheckpointOverrides o;
        o.vae = file;
        const StableDiffusionModel m = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o);
        const Tensor got = m.vae().decode(latent);
        REQUIRE(got.shape() == expected.shape());
        test::check_close("decode", got, expected, 0);
        const std::vector<std::string> unused = m.unused_tensors();  // the checkpoint's own VAE is now unused
        CHECK(std::any_of(unused.begin(), unused.end(), [](const std::string& u) {
            return u.find("tiny-sd1.safetensors: first_stage_model.decoder.conv_out.weight") != std::string::npos;
        }));
    }
    // tiny-sd1's own VAE as a diffusers folder and as that folder's file: the golden decode
    for (const std::string& vae : {test::golden_path("tiny-sd1-diffusers/vae"), test::golden_path("tiny-sd1-diffusers/vae/diffusion_pytorch_model.safetensors")}) {
        CheckpointOverrides o;
        o.vae = vae;
        const StableDiffusionModel m = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"), o);
        test::check_close("decode with " + vae, m.vae().decode(latent), test::batch_item(v.load_f32("decoded"), 0), 1e-4);
    }
    CheckpointOverrides o;
    o.vae = test::golden_v2_path("lora.safetensors");
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o), Catch::Contains("--vae: not a VAE"));
}

TEST_CASE("a LoRA in diffusers/PEFT names (lora_A / lora_B, no alpha) merges like its kohya twin", "[addons][lora][golden]") {
    // the golden kohya LoRA renamed: lora_unet_<path with _> -> unet.<path>.lora_A/B.weight, lora_te_ -> text_encoder.
    const SafetensorsFile kohya(test::golden_v2_path("tiny-sd1-lora.safetensors"));
    // the path's own underscores, restored after every "_" became "."
    const std::vector<std::string> words = {"down_blocks", "transformer_blocks", "mid_block", "up_blocks", "to_out", "to_q", "to_k",
                                            "to_v", "ff_net", "proj_in", "proj_out", "text_model", "self_attn", "q_proj", "out_proj"};
    auto dotted = [&](std::string path) {  // "down_blocks_0_attentions_0_..." -> "down_blocks.0.attentions.0...."
        for (char& c : path)
            if (c == '_') c = '.';
        for (const std::string& w : words) {
            std::string d = w;
            for (char& c : d)
                if (c == '_') c = '.';
            for (size_t at; (at = path.find(d)) != std::string::npos;) path.replace(at, d.size(), w);
        }
        return path;
    };
    float alpha_over_r = 1;
    std::vector<TensorRecord> records;
    for (const TensorView& v : kohya.tensors()) {
        const std::string bytes(reinterpret_cast<const char*>(v.bytes), v.nbytes);
        const size_t dot = v.name.find('.');
        const std::string module = v.name.substr(0, dot), role = v.name.substr(dot + 1);
        if (role == "alpha") {
            alpha_over_r = v.to_f32()[0] / float(kohya.get(module + ".lora_down.weight").shape[0]);
            continue;
        }
        const bool unet = module.rfind("lora_unet_", 0) == 0;
        const std::string path = unet ? "unet." + dotted(module.substr(10)) : "text_encoder." + dotted(module.substr(8));
        records.push_back({path + (role == "lora_down.weight" ? ".lora_A.weight" : ".lora_B.weight"), v.dtype, v.shape, bytes});
    }
    const std::string peft = test::scratch_dir("peft") + "/peft.safetensors";
    write_safetensors(peft, records);
    const SafetensorsFile g(test::golden_v2_path("lora.safetensors"));
    const Tensor x = test::batch_item(g.load_f32("x"), 0), ctx = test::batch_item(g.load_f32("context"), 0);
    auto model = [&](const LoraSpec& l) {
        CheckpointOverrides o;
        o.loras = {l};
        return StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o);
    };
    const StableDiffusionModel a = model({test::golden_v2_path("tiny-sd1-lora.safetensors"), 0.8f});
    const StableDiffusionModel b = model({peft, 0.8f * alpha_over_r});  // PEFT keeps alpha in its config, not the file
    CHECK(b.lora_layers() == a.lora_layers());
    test::check_close("U-Net, PEFT vs kohya", b.unet().forward(x, 500.0f, {ctx, {}}), a.unet().forward(x, 500.0f, {ctx, {}}), 1e-5);
    test::check_close("text, PEFT vs kohya", b.conditioner().encode("a cat", false, {}).context, a.conditioner().encode("a cat", false, {}).context, 1e-5);
}

TEST_CASE("an SDXL embedding (clip_l + clip_g) gives both encoders the same new tokens", "[addons][ti][sdxl][golden]") {
    const std::string dir = test::scratch_dir("sdxl-ti");
    const SafetensorsFile base(test::golden_v2_path("tiny-sdxl.safetensors"));
    const Json meta = Json::parse(base.meta("text_config"), "text_config");
    const int64_t Dl = meta.at("clip_l").at("width").as_int(), Dg = meta.at("clip_g").at("width").as_int(), n = 3;
    auto vectors = [&](const std::string& name, int64_t d, float value) {
        std::string bytes(size_t(n * d) * 4, '\0');
        for (int64_t i = 0; i < n * d; ++i) {
            const float v = value * float((i % 7) - 3);
            std::memcpy(&bytes[size_t(i) * 4], &v, 4);
        }
        return TensorRecord{name, DType::F32, {n, d}, bytes};
    };
    write_safetensors(dir + "/xlthing.safetensors", {vectors("clip_l", Dl, 0.05f), vectors("clip_g", Dg, 0.03f)});
    write_safetensors(dir + "/narrow.safetensors", {vectors("clip_l", Dl / 2, 0.05f), vectors("clip_g", Dg, 0.03f)});
    CheckpointOverrides o;
    o.embeddings = {dir + "/xlthing.safetensors"};
    const StableDiffusionModel with = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"), o);
    const StableDiffusionModel plain = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    ConditioningOptions c;
    c.width = c.height = 128;
    const Conditioning a = with.conditioner().encode("a photo of xlthing", false, c), b = plain.conditioner().encode("a photo of xlthing", false, c);
    REQUIRE(a.context.shape() == b.context.shape());
    CHECK(std::memcmp(a.context.data(), b.context.data(), size_t(a.context.numel()) * 4) != 0);
    // tokens before the word are untouched (causal attention): row 1 ("a") is the same with and without
    const int64_t D = a.context.dim(1);
    CHECK(std::memcmp(a.context.data() + D, b.context.data() + D, size_t(D) * 4) == 0);
    o.embeddings = {dir + "/narrow.safetensors"};
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"), o), Catch::Contains("narrow.safetensors"));
    o.embeddings = {dir + "/xlthing.safetensors"};
    CHECK_THROWS_WITH(StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"), o), Catch::Contains("another model family"));
}
