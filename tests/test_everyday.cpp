// Everyday generation features through the sdref command, on the demo model: the hires fix, previews while
// sampling, grids and X/Y plots, VAE tiling.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "golden.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/taesd.h"
#include "models/upscaler.h"
#include "app/engine.h"
#include "app/params.h"
#include "core/rng.h"
#include "pipeline/warp.h"
#include "pipeline/image.h"
#include "pipeline/preview.h"
#include "pipeline/resize.h"

using namespace sdref;

namespace {

using test::quote;
using test::run;
using Run = test::Run;

std::string parameters(const std::string& png, const std::string& key = "parameters") {
    for (const auto& [k, v] : read_png_text(png))
        if (k == key) return v;
    return "";
}

double psnr(const Image& a, const Image& b) {
    REQUIRE(a.pixels.size() == b.pixels.size());
    double sq = 0;
    for (size_t k = 0; k < a.pixels.size(); ++k) sq += (double(a.pixels[k]) - b.pixels[k]) * (double(a.pixels[k]) - b.pixels[k]);
    return 10 * std::log10(255.0 * 255.0 / std::max(sq / double(a.pixels.size()), 1e-12));
}

// The w x h block of `img` at (x, y).
Image crop(const Image& img, int x, int y, int w, int h) {
    Image out{w, h, 3, std::vector<uint8_t>(size_t(w) * size_t(h) * 3)};
    for (int r = 0; r < h; ++r)
        std::copy_n(img.pixels.data() + (size_t(y + r) * size_t(img.width) + size_t(x)) * 3, size_t(w) * 3,
                    out.pixels.data() + size_t(r) * size_t(w) * 3);
    return out;
}

void require_ok(const Run& r) {
    INFO(r.output);
    REQUIRE(r.status == 0);
}

void require_error(const Run& r, const std::string& text) {
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains(text));
}

const std::string kPrompt = " -p 'a red circle on a blue background' ";

}  // namespace

TEST_CASE("hires fix: Lanczos is the base picture resized and redrawn by img2img, the latent upscalers differ, PNG says how", "[cli][hires]") {
    const std::string dir = test::scratch_dir("hires");
    auto out = [&](const std::string& n) { return dir + "/" + n + ".png"; };
    // the base picture, then img2img of its Lanczos resize by hand: the hires fix must give the same bits
    require_ok(run(kPrompt + "--steps 8 -s 5 -o " + quote(out("base"))));
    write_png(out("base-up"), pil_resize(read_image(out("base"), 3), 128, 96, ResizeFilter::Lanczos));
    require_ok(run(kPrompt + "--steps 6 -s 5 -i " + quote(out("base-up")) + " --strength 0.6 -o " + quote(out("by-hand"))));
    require_ok(run(kPrompt + "--steps 8 -s 5 --hires-fix --hires-width 128 --hires-height 96 --hires-steps 6 --hires-denoise 0.6 "
                             "--hires-upscaler lanczos -o " + quote(out("lanczos"))));
    const Image lanczos = read_image(out("lanczos"), 3), by_hand = read_image(out("by-hand"), 3);
    CHECK(lanczos.width == 128);
    CHECK(lanczos.height == 96);
    CHECK(lanczos.pixels == by_hand.pixels);
    CHECK_THAT(parameters(out("lanczos")), Catch::EndsWith("Size: 64x64, Model: tinyshapes, Denoising strength: 0.6, Hires resize: 128x96, "
                                                           "Hires steps: 6, Hires upscaler: Lanczos"));

    // the latent upscalers: twice the size by default, A1111's keys, pictures of their own
    require_ok(run(kPrompt + "--steps 8 -s 5 --hires-fix --hires-denoise 0.6 -o " + quote(out("latent"))));
    require_ok(run(kPrompt + "--steps 8 -s 5 --hires-fix --hires-denoise 0.6 --hires-upscaler 'Latent (nearest)' -o " + quote(out("nearest"))));
    const Image latent = read_image(out("latent"), 3), nearest = read_image(out("nearest"), 3);
    CHECK(latent.width == 128);
    CHECK(latent.height == 128);
    CHECK(latent.pixels != nearest.pixels);
    CHECK_THAT(parameters(out("latent")), Catch::EndsWith("Denoising strength: 0.6, Hires upscale: 2, Hires upscaler: Latent"));
    CHECK_THAT(parameters(out("nearest")), Catch::Contains("Hires upscaler: Latent (nearest)"));
    // the second pass redraws: the result is not the base picture upscaled
    const Image plain_up = pil_resize(read_image(out("base"), 3), 128, 128, ResizeFilter::Lanczos);
    CHECK(psnr(latent, plain_up) < 40);
    CHECK(psnr(latent, plain_up) > 12);  // ... but keeps its composition

    require_error(run(kPrompt + "--hires-scale 3 -o " + quote(out("x"))), "--hires-scale needs --hires-fix");
    require_error(run(kPrompt + "--hires-fix --hires-width 100 -o " + quote(out("x"))), "multiple of 8");
    require_error(run(kPrompt + "--hires-fix -i " + quote(out("base")) + " -o " + quote(out("x"))), "--hires-fix is for txt2img");
    require_error(run(kPrompt + "--hires-fix --hires-upscaler esrgan -o " + quote(out("x"))), "latent, latent-nearest, lanczos");
    require_error(run(kPrompt + "--hires-fix --hires-scale 9 -o " + quote(out("x"))), "between 1 and 8");
    CHECK_FALSE(std::filesystem::exists(out("x")));
}

TEST_CASE("sdref --preview writes the latents' picture while sampling, and it looks like the picture", "[cli][preview]") {
    const std::string dir = test::scratch_dir("preview");
    // two pictures: the second one's preview uses the map refitted to the first
    require_ok(run(kPrompt + "--steps 6 -s 9 -b 2 --preview " + quote(dir + "/preview.png") + " --preview-interval 4 -o " + quote(dir + "/out.png")));
    const Image preview = read_image(dir + "/preview.png", 3), last = read_image(dir + "/out_1.png", 3);
    REQUIRE(preview.width == last.width);
    REQUIRE(preview.height == last.height);
    // the last step's preview against the picture, 8x8 block means (the preview has one colour per latent pixel)
    double err = 0;
    for (int y = 0; y < last.height / 8; ++y)
        for (int x = 0; x < last.width / 8; ++x)
            for (int c = 0; c < 3; ++c) {
                double a = 0, b = 0;
                for (int dy = 0; dy < 8; ++dy)
                    for (int dx = 0; dx < 8; ++dx) {
                        const size_t i = (size_t(y * 8 + dy) * size_t(last.width) + size_t(x * 8 + dx)) * 3 + size_t(c);
                        a += preview.pixels[i];
                        b += last.pixels[i];
                    }
                err += std::fabs(a - b) / 64;
            }
    err /= double(last.width * last.height / 64 * 3);
    INFO("mean block error " << err << " of 255");
    CHECK(err < 20);
    require_error(run(kPrompt + "--preview-interval 2 -o " + quote(dir + "/x.png")), "--preview-interval needs --preview");
    require_error(run(kPrompt + "--preview " + quote(dir + "/p.png") + " --preview-interval 0 -o " + quote(dir + "/x.png")),
                  "between 1 and 1000");
}

TEST_CASE("sdref --grid puts a batch in one picture, --x-axis/--y-axis draw a labelled plot of separate generations", "[cli][grid]") {
    const std::string dir = test::scratch_dir("grid");
    require_ok(run(kPrompt + "--steps 3 -s 20 -b 3 --grid " + quote(dir + "/grid.png") + " -o " + quote(dir + "/b.png")));
    const Image grid = read_image(dir + "/grid.png", 3);
    CHECK(grid.width == 128);
    CHECK(grid.height == 128);
    CHECK(crop(grid, 64, 0, 64, 64).pixels == read_image(dir + "/b_1.png", 3).pixels);
    CHECK(crop(grid, 0, 64, 64, 64).pixels == read_image(dir + "/b_2.png", 3).pixels);

    // a 2 x 2 plot: every cell is the generation its labels name
    require_ok(run(kPrompt + "-s 4 --x-axis 'cfg-scale=1, 7' --y-axis steps=2,3 -o " + quote(dir + "/plot.png")));
    require_ok(run(kPrompt + "-s 4 --cfg-scale 7 --steps 3 -o " + quote(dir + "/cell.png")));
    const Image plot = read_image(dir + "/plot.png", 3), cell = read_image(dir + "/cell.png", 3);
    REQUIRE(plot.width > 128);
    REQUIRE(plot.height > 128);
    const int left = plot.width - 128, top = plot.height - 128;
    CHECK(crop(plot, left + 64, top + 64, 64, 64).pixels == cell.pixels);
    CHECK(crop(plot, left, top, 64, 64).pixels != cell.pixels);
    // the labels are drawn: dark pixels in the header and in the left column, the corner is white
    auto dark_in = [&](int x, int y, int w, int h) {
        const Image c = crop(plot, x, y, w, h);
        return std::count_if(c.pixels.begin(), c.pixels.end(), [](uint8_t v) { return v < 100; });
    };
    CHECK(dark_in(left, 0, 128, top) > 20);
    CHECK(dark_in(0, top, left, 128) > 20);
    CHECK(dark_in(0, 0, left, top) == 0);
    CHECK_THAT(parameters(dir + "/plot.png", "parameters 2,2"), Catch::Contains("Steps: 3,") && Catch::Contains("CFG scale: 7,"));
    CHECK_THAT(parameters(dir + "/plot.png", "parameters 1,2"), Catch::Contains("Steps: 3,") && Catch::Contains("CFG scale: 1,"));
    CHECK(parameters(dir + "/plot.png") == parameters(dir + "/plot.png", "parameters 1,1"));

    require_error(run(kPrompt + "--x-axis colour=1,2 -o " + quote(dir + "/x.png")), "\"colour\" is not an axis");
    require_error(run(kPrompt + "--x-axis steps=4,many -o " + quote(dir + "/x.png")), "--x-axis steps: \"many\" is not a whole number");
    require_error(run(kPrompt + "--x-axis sampling-method=euler,warp -o " + quote(dir + "/x.png")), "unknown sampler \"warp\"");
    require_error(run(kPrompt + "--y-axis steps=1,2 -o " + quote(dir + "/x.png")), "--y-axis needs --x-axis");
    require_error(run(kPrompt + "--x-axis steps=2 --y-axis width=64,128 -o " + quote(dir + "/x.png")), "--y-axis width: the cells would differ in size");
    require_error(run(kPrompt + "--x-axis batch-count=1,2 -o " + quote(dir + "/x.png")), "\"batch-count\" is not an axis");
    require_error(run(kPrompt + "--x-axis lora:none=0,1 -o " + quote(dir + "/x.png")), "no --lora file named none");
    CHECK_FALSE(std::filesystem::exists(dir + "/x.png"));
}

TEST_CASE("an X/Y plot over a LoRA's weight: weight 0 draws what no LoRA draws", "[cli][grid][addons]") {
    const std::string dir = test::scratch_dir("grid-lora");
    const std::string model = "-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -W 32 -H 32 --steps 2 -s 3 ";
    require_ok(run(model + "-p 'a cat <lora:tiny-sd1-lora:0.8>' --lora-model-dir " + quote(test::golden_v2_dir()) +
                   " --x-axis lora:tiny-sd1-lora=0,1 -o " + quote(dir + "/plot.png")));
    require_ok(run(model + "-p 'a cat' -o " + quote(dir + "/plain.png")));
    const Image plot = read_image(dir + "/plot.png", 3), plain = read_image(dir + "/plain.png", 3);
    const int top = plot.height - 32, left = plot.width - 64;
    CHECK(crop(plot, left, top, 32, 32).pixels == plain.pixels);
    CHECK(crop(plot, left + 32, top, 32, 32).pixels != plain.pixels);
    CHECK_THAT(parameters(dir + "/plot.png", "parameters 2,1"), Catch::StartsWith("a cat <lora:tiny-sd1-lora:1>"));
}

// The demo model drawn at 256x192 (its VAE only ever saw 64x64 pictures) in tiles of 24 latent pixels: 47 dB from the
// whole decode. Measured with 16-pixel tiles (six tiles): 33 dB with the pooled statistics, 20 dB with each tile's
// own (the background's colour changed from tile to tile), 37 dB with the exact statistics of the whole decode;
// the rest is the VAE's attention seeing one tile.
TEST_CASE("sdref --vae-tiling decodes in blended tiles with the whole picture's group statistics (PSNR >= 40 dB from the whole decode)", "[cli][vae]") {
    const std::string dir = test::scratch_dir("vae-tiling");
    const std::string common = kPrompt + "-W 256 -H 192 --steps 6 -s 2 ";
    require_ok(run(common + "-o " + quote(dir + "/whole.png")));
    require_ok(run(common + "--vae-tiling --vae-tile-size 24 -o " + quote(dir + "/tiled.png")));
    const Image whole = read_image(dir + "/whole.png", 3), tiled = read_image(dir + "/tiled.png", 3);
    const double db = psnr(whole, tiled);
    INFO("PSNR " << db << " dB");
    CHECK(db >= 40);
    CHECK(whole.pixels != tiled.pixels);  // it did decode in tiles
    CHECK_THAT(parameters(dir + "/tiled.png"), Catch::Contains("VAE tiling: true, VAE tile size: 24"));
    require_error(run(common + "--vae-tile-size 20 -o " + quote(dir + "/x.png")), "--vae-tile-size needs --vae-tiling");
    require_error(run(common + "--vae-tiling --vae-tile-size 8 -o " + quote(dir + "/x.png")), "between 16 and 1024");
}

TEST_CASE("the hires fix runs for SDXL with its refiner and for SD 1.x with a ControlNet (the control image resized)", "[cli][hires][sdxl][controlnet]") {
    const std::string dir = test::scratch_dir("hires-families");
    const std::string sdxl = "-m " + quote(test::golden_v2_path("tiny-sdxl.safetensors")) + " -p 'a cat' -W 32 -H 32 --steps 3 -s 1 ";
    require_ok(run(sdxl + "--refiner " + quote(test::golden_v2_path("tiny-sdxl-refiner.safetensors")) +
                   " --hires-fix --hires-steps 2 -o " + quote(dir + "/sdxl.png")));
    CHECK(read_image(dir + "/sdxl.png", 3).width == 64);
    CHECK_THAT(parameters(dir + "/sdxl.png"), Catch::Contains("Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent"));

    // a ControlNet guides both passes: with it the picture differs from the same hires fix without it
    Image control{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3, 0)};
    for (int y = 8; y < 24; ++y)
        for (int x = 8; x < 24; ++x) control.pixels[size_t((y * 32 + x) * 3)] = 255;
    write_png(dir + "/control.png", control);
    const std::string sd1 = "-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p 'a cat' -W 32 -H 32 --steps 3 -s 1 --hires-fix "
                            "--hires-upscaler lanczos ";
    require_ok(run(sd1 + "--control-net " + quote(test::golden_v2_path("tiny-controlnet-diffusers")) + " --control-image " +
                   quote(dir + "/control.png") + " -o " + quote(dir + "/control-hires.png")));
    require_ok(run(sd1 + "-o " + quote(dir + "/plain-hires.png")));
    const Image with = read_image(dir + "/control-hires.png", 3), without = read_image(dir + "/plain-hires.png", 3);
    CHECK(with.width == 64);
    CHECK(with.pixels != without.pixels);
}

TEST_CASE("the published latent-to-RGB factors: SD's for SD 1.x/2.x, SDXL's for SDXL, only with the family's VAE", "[preview]") {
    // rgb = (F^T l + 1) / 2 with ComfyUI's latent_formats.py factors: a latent pixel of (1, 0, 0, 0) is the first
    // row's colour, (0, 0, 0, -1) the last row's negated
    Tensor l({4, 1, 2});
    l[0 * 2 + 0] = 1.0f;   // pixel 0: channel 0 = 1
    l[3 * 2 + 1] = -1.0f;  // pixel 1: channel 3 = -1
    auto colour = [](float v) { return uint8_t(std::nearbyint(std::min(std::max((v + 1) / 2, 0.0f), 1.0f) * 255)); };
    const auto sd = LatentPreview::published(sd2_family(), 4, 512), xl = LatentPreview::published(sdxl_refiner_family(), 4, 512);
    REQUIRE(sd);
    REQUIRE(xl);
    CHECK_FALSE(sd->fitted);
    const Image a = sd->render(l), b = xl->render(l);
    CHECK(a.pixels == std::vector<uint8_t>{colour(0.3512f), colour(0.2297f), colour(0.3227f), colour(0.2120f), colour(0.2616f), colour(0.7177f)});
    CHECK(b.pixels == std::vector<uint8_t>{colour(0.3920f), colour(0.4054f), colour(0.4549f), colour(0.3112f), colour(0.2359f), colour(0.2076f)});
    // another VAE (the demo model's 64-wide decoder, or other latent channels) or family: fitted instead
    CHECK_FALSE(LatentPreview::published(sd1_family(), 4, 64));
    CHECK_FALSE(LatentPreview::published(sd1_family(), 16, 512));
    FamilySpec unpublished;  // a family that publishes no factors
    CHECK_FALSE(LatentPreview::published(unpublished, 4, 512));
}

namespace {

// The first network of set v4's Real-ESRGAN cases, and the SD-latent TAESD decoder of its TAESD cases (the case
// whose decoder file is taesd_*, as the family table expects for SD 1.x), both named by the golden files.
std::string golden_upscaler() {
    const SafetensorsFile g(test::golden_v4_path("realesrgan.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "cases");
    return test::golden_v4_path(cases.members().begin()->second.at("files").items().back().as_string());
}
std::string golden_taesd(const std::string& variant) {
    const SafetensorsFile g(test::golden_v4_path("taesd.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "cases");
    for (const auto& [name, c] : cases.members())
        for (const Json& f : c.at("files").items())
            if (f.as_string().find(variant + "_decoder.") != std::string::npos) return test::golden_v4_path(f.as_string());
    FAIL("no " << variant << " decoder in taesd.safetensors' cases");
    return "";
}

}  // namespace

TEST_CASE("sdref upscale: A1111 Extras on one picture, its parameters kept, bad files are clear errors", "[cli][upscaler]") {
    const std::string dir = test::scratch_dir("upscale"), model = golden_upscaler();
    require_ok(run(kPrompt + "--steps 4 -o " + quote(dir + "/in.png")));
    require_ok(run("upscale -i " + quote(dir + "/in.png") + " -o " + quote(dir + "/up.png") + " --upscale-model " + quote(model) +
                   " --upscale-scale 3 --upscale-tile 32 --upscale-tile-overlap 8"));
    const Upscaler u = Upscaler::load(model);
    const Image want = upscale_by(u, read_image(dir + "/in.png", 3), 3, 32, 8), got = read_image(dir + "/up.png", 3);
    CHECK(got.width == want.width);
    CHECK(got.pixels == want.pixels);
    CHECK(got.width == read_image(dir + "/in.png", 3).width * 3 / 8 * 8);
    CHECK_THAT(parameters(dir + "/up.png"), Catch::StartsWith(parameters(dir + "/in.png")));
    CHECK_THAT(parameters(dir + "/up.png"), Catch::Contains("Postprocess upscale by: 3, Postprocess upscaler: " + std::filesystem::path(model).stem().string()));
    require_error(run("upscale -i " + quote(dir + "/in.png") + " -o " + quote(dir + "/x.png") + " --upscale-model " + quote(dir + "/in.png")), "in.png");
    require_error(run("upscale -i " + quote(dir + "/in.png") + " -o " + quote(dir + "/x.png") + " --upscale-model " + quote(test::golden_v4_path("taesd.safetensors"))),
                  "not a Real-ESRGAN upscaler");
    require_error(run("upscale -o " + quote(dir + "/x.png") + " --upscale-model " + quote(model)), "-i IN is required");
    require_error(run("upscale -i " + quote(dir + "/in.png") + " -o " + quote(dir + "/x.png") + " --upscale-model " + quote(model) +
                      " --upscale-tile 16 --upscale-tile-overlap 16"), "--upscale-tile-overlap");
    CHECK_FALSE(std::filesystem::exists(dir + "/x.png"));
}

TEST_CASE("the hires fix with a Real-ESRGAN network: the base picture upscaled by it, redrawn, the PNG names it", "[cli][hires][upscaler]") {
    const std::string dir = test::scratch_dir("hires-esrgan"), model = golden_upscaler();
    require_ok(run(kPrompt + "--steps 4 -s 3 --hires-fix --hires-scale 2 --hires-upscaler " + quote(model) + " -o " + quote(dir + "/net.png")));
    require_ok(run(kPrompt + "--steps 4 -s 3 --hires-fix --hires-scale 2 --hires-upscaler lanczos -o " + quote(dir + "/lanczos.png")));
    const Image net = read_image(dir + "/net.png", 3), lanczos = read_image(dir + "/lanczos.png", 3);
    CHECK(net.width == 128);
    CHECK(net.pixels != lanczos.pixels);  // (the network's picture, not Lanczos's, went into the second pass)
    CHECK_THAT(parameters(dir + "/net.png"), Catch::Contains("Hires upscaler: " + std::filesystem::path(model).stem().string()));
}

TEST_CASE("TAESD in the command: --taesd decodes with it, --preview-method taesd previews with it, the wrong family is refused", "[cli][taesd]") {
    const std::string dir = test::scratch_dir("taesd"), taesd = golden_taesd("taesd"), xl = golden_taesd("taesdxl");
    require_ok(run(kPrompt + "--steps 3 --taesd " + quote(taesd) + " --preview " + quote(dir + "/p.png") +
                   " --preview-method taesd --save-latents " + quote(dir + "/z.safetensors") + " -o " + quote(dir + "/t.png")));
    // the picture is TAESD's decode of the final latents, clamped to [0, 1]
    const Tensor z = SafetensorsFile(dir + "/z.safetensors").tensors().front().to_f32();
    const Tensor latents({z.dim(1), z.dim(2), z.dim(3)}, std::vector<float>(z.data(), z.data() + z.numel()));
    Tensor image = Taesd::load(taesd).decode(latents);
    for (int64_t i = 0; i < image.numel(); ++i) image[i] = std::min(std::max(image[i], 0.0f), 1.0f);
    CHECK(read_image(dir + "/t.png", 3).pixels == tensor_to_image(image).pixels);
    CHECK(read_image(dir + "/p.png", 3).pixels == tensor_to_image(image).pixels);  // (the last step's preview)
    require_error(run(kPrompt + "--taesd " + quote(xl) + " -o " + quote(dir + "/x.png")), "SD 1.x's latents need taesd");
    require_error(run(kPrompt + "--preview " + quote(dir + "/q.png") + " --preview-method taesd -o " + quote(dir + "/x.png")), "needs --taesd");
    require_error(run(kPrompt + "--taesd " + quote(dir + "/none") + " -o " + quote(dir + "/x.png")), "no such file");
    CHECK_FALSE(std::filesystem::exists(dir + "/x.png"));
}

TEST_CASE("sdref animate: frames from warped, colour-matched, noised img2img of the last, and an animated WebP", "[cli][animation]") {
    const std::string dir = test::scratch_dir("animate");
    const std::string flags = kPrompt + "--steps 6 -s 11 --frames 3 --zoom '0:(1.1)' --angle '0:(0), 2:(10)' --translation-x '0:(2)' "
                                        "--strength-schedule '0:(0.5)' --noise-schedule '0:(0.05)' --cfg-schedule '0:(7), 2:(5)'";
    require_ok(run("animate" + flags + " -o " + quote(dir + "/a")));
    for (const char* f : {"/a/frame_0000.png", "/a/frame_0001.png", "/a/frame_0002.png", "/a/animation.webp"})
        REQUIRE(std::filesystem::exists(dir + f));
    CHECK_THAT(parameters(dir + "/a/frame_0002.png"), Catch::Contains("Animation frame: 2/3") && Catch::Contains("Seed: 13") &&
                                                           Catch::Contains("CFG scale: 5") && Catch::Contains("Denoising strength: 0.5"));
    // frame 1 is the Engine's img2img of frame 0 warped (zoom 1.1, angle 5, 2 px right), colour-matched and noised
    const Image f0 = read_image(dir + "/a/frame_0000.png", 3);
    Warp2D w;
    w.zoom = 1.1, w.angle = 5, w.tx = 2;
    Image init = match_colors_lab(warp_2d(f0, w), f0);
    std::vector<float> n(init.pixels.size());
    TorchGenerator(12).randn(n.data(), n.size());
    for (size_t i = 0; i < n.size(); ++i) init.pixels[i] = uint8_t(std::clamp(std::lrint(init.pixels[i] * (1 + 0.05 * n[i])), 0L, 255L));
    EngineOptions eo;
    eo.default_model = std::string(SDREF_SOURCE_DIR) + "/models/tinyshapes.safetensors";
    Engine engine(eo);
    GenerationRequest r = with_defaults(generation_params(), Origin::Cli);
    r.prompt = "a red circle on a blue background", r.steps = 6, r.seed = 12, r.cfg_scale = 6, r.denoising_strength = 0.5;
    r.init_image.source = "frame 0", r.init_image.image = init;
    CHECK(engine.run(r)[0].image.pixels == read_image(dir + "/a/frame_0001.png", 3).pixels);
    // the WebP holds an animation of 3 frames
    const std::string webp = test::read_bytes(dir + "/a/animation.webp");
    CHECK(webp.compare(0, 4, "RIFF") == 0);
    CHECK(webp.find("ANIM") != std::string::npos);
    size_t frames = 0;
    for (size_t at = webp.find("ANMF"); at != std::string::npos; at = webp.find("ANMF", at + 4)) ++frames;
    CHECK(frames == 3);
    // bad schedules and names are errors before any frame
    require_error(run("animate" + kPrompt + "--frames 3 --zoom '0:(1.0 +' -o " + quote(dir + "/x")), "--zoom");
    require_error(run("animate" + kPrompt + "--frames 3 --strength-schedule '0:(1.5)' -o " + quote(dir + "/x")), "outside [0, 1)");
    require_error(run("animate" + kPrompt + "--frames 3 --seed-behavior random -o " + quote(dir + "/x")), "--seed-behavior");
    require_error(run("animate --frames 3 -o " + quote(dir + "/x")), "-p PROMPT is required");
    CHECK_FALSE(std::filesystem::exists(dir + "/x/frame_0000.png"));
}
