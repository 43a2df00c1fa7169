// The sdref binary itself: output and exit codes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <zlib.h>
#include <sstream>

#include <fstream>

#include "core/error.h"
#include "core/sha256.h"
#include "golden.h"
#include "io/safetensors.h"
#include "loader/checkpoint.h"
#include "kernels/gemm.h"
#include "pipeline/image.h"

using namespace sdref;

namespace {

using test::quote;
using test::run;
using Run = test::Run;

std::string joined(const Json& ids) {
    std::ostringstream s;
    for (size_t i = 0; i < ids.items().size(); ++i) s << (i ? " " : "") << ids.items()[i].as_int();
    return s.str() + "\n";
}

}  // namespace

TEST_CASE("sdref tokenize prints the golden ids", "[cli][tokenizer][golden]") {
    const Json golden = test::load_json_file(test::golden_path("tokenizer.json"));
    for (const Json& c : golden.at("cases").items()) {
        const std::string text = c.at("text").as_string();
        INFO("prompt: " << text);
        const Run sd1 = run("tokenize " + quote(text));
        CHECK(sd1.status == 0);
        CHECK(sd1.output == joined(c.at("sd1_ids")));
        const Run sd2 = run("tokenize --pad-id " + std::to_string(c.at("sd2_ids").items().back().as_int()) + " " + quote(text));
        CHECK(sd2.output == joined(c.at("sd2_ids")));
    }
}

TEST_CASE("sdref reports bad input on one line with a non-zero exit", "[cli]") {
    const Run unknown = run("frobnicate");
    CHECK(unknown.status != 0);
    CHECK(unknown.output.find("unknown command \"frobnicate\"") != std::string::npos);

    const Run pad = run("tokenize --pad-id x hello");
    CHECK(pad.status != 0);
    CHECK(pad.output.find("--pad-id") != std::string::npos);

    const std::string dir = test::scratch_dir("cli");
    const std::string bad = dir + "/bad.safetensors";
    FILE* f = fopen(bad.c_str(), "wb");
    fwrite("\x05\x00\x00\x00\x00\x00\x00\x00{}", 1, 10, f);
    fclose(f);
    const Run inspect = run("inspect " + quote(bad));
    CHECK(inspect.status != 0);
    CHECK(inspect.output.find(bad) != std::string::npos);
    CHECK(std::count(inspect.output.begin(), inspect.output.end(), '\n') == 1);

    const Run good = run("inspect " + quote(test::golden_path("vae.safetensors")));
    CHECK(good.status == 0);
}

namespace {

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

TEST_CASE("sdref generates a PNG carrying A1111 parameters, and the latents it decoded", "[cli][pipeline]") {
    const std::string dir = test::scratch_dir("cli-generate");
    const std::string png = dir + "/cat.png", lat = dir + "/cat.safetensors";
    const Run r = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) +
                      " -p 'a photo of a cat' -n 'blurry' -W 64 -H 48 --steps 3 --cfg-scale 5 --sampling-method dpm++2m"
                      " --scheduler karras -s 1234 -o " + quote(png) + " --save-latents " + quote(lat) + " -t 1");
    INFO(r.output);
    REQUIRE(r.status == 0);
    const Image img = read_image(png, 3);
    CHECK(img.width == 64);
    CHECK(img.height == 48);
    std::string params;
    for (const auto& [k, v] : read_png_text(png))
        if (k == "parameters") params = v;
    CHECK(params.rfind("a photo of a cat\nNegative prompt: blurry\n", 0) == 0);
    CHECK(params.find("Steps: 3, Sampler: DPM++ 2M Karras, CFG scale: 5, Seed: 1234, Size: 64x48, Model: tiny-sd1") !=
          std::string::npos);
    const SafetensorsFile latents(lat);
    CHECK(latents.get("latents").shape == Shape{1, 4, 6, 8});
    CHECK(r.output.find("step 3/3") != std::string::npos);

    // -s -1 picks a seed and reports it; -b makes numbered files with consecutive seeds
    const Run rnd = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x -W 16 -H 16 --steps 1 -s -1 -b 2 -o " +
                        quote(dir + "/r.png"));
    REQUIRE(rnd.status == 0);
    CHECK(rnd.output.find("(seed ") != std::string::npos);
    CHECK(file_exists(dir + "/r.png"));
    CHECK(file_exists(dir + "/r_1.png"));

    // without --steps, --cfg-scale or --sampling-method: the model family's (FamilySpec, through its Denoiser)
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    const DenoiserInfo& info = model.denoiser().info();
    CHECK(info.default_steps == model.info().family->default_steps);
    CHECK(info.default_sampler == model.info().family->default_sampler);
    const Run plain = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x -W 16 -H 16 -o " + quote(dir + "/d.png"));
    REQUIRE(plain.status == 0);
    std::string defaults;
    for (const auto& [k, v] : read_png_text(dir + "/d.png"))
        if (k == "parameters") defaults = v;
    std::string sampler;
    for (const SamplerNames& n : sampler_table())
        if (n.name == info.default_sampler) sampler = n.a1111;
    CHECK(defaults.find("Steps: " + std::to_string(info.default_steps) + ", Sampler: " + sampler + ", CFG scale: " + cat(info.default_cfg) + ",") !=
          std::string::npos);
    CHECK(defaults.find("RNG:") == std::string::npos);  // the default generator (cpu) is not written

    // --rng cuda: A1111's GPU-compatible noise (core/philox.h), "RNG: NV" as A1111 writes it; the same picture twice
    const std::string common = " -p x -W 16 -H 16 --steps 2 -s 5 --rng cuda -o ";
    const Run nv = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + common + quote(dir + "/nv.png"));
    const Run again = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + common + quote(dir + "/nv2.png"));
    const Run cpu = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x -W 16 -H 16 --steps 2 -s 5 -o " + quote(dir + "/cpu.png"));
    REQUIRE(nv.status == 0);
    REQUIRE(again.status == 0);
    REQUIRE(cpu.status == 0);
    CHECK(read_image(dir + "/nv.png", 3).pixels == read_image(dir + "/nv2.png", 3).pixels);
    CHECK(read_image(dir + "/nv.png", 3).pixels != read_image(dir + "/cpu.png", 3).pixels);
    std::string nv_params;
    for (const auto& [k, v] : read_png_text(dir + "/nv.png"))
        if (k == "parameters") nv_params = v;
    CHECK(nv_params.find(", RNG: NV") != std::string::npos);
    CHECK(run("-p x --rng quantum -o " + quote(dir + "/q.png")).output.find("--rng: unknown random number generator") != std::string::npos);

    // a variation seed moves the picture (and is written as A1111 writes it, per picture); strength 0 changes nothing
    const std::string base = "-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x -W 16 -H 16 --steps 2 -s 5 --rng cuda ";
    REQUIRE(run(base + "--subseed 7 --subseed-strength 0.4 -b 2 -o " + quote(dir + "/var.png")).status == 0);
    REQUIRE(run(base + "--subseed 7 --subseed-strength 0 -o " + quote(dir + "/var0.png")).status == 0);
    CHECK(read_image(dir + "/var0.png", 3).pixels == read_image(dir + "/nv.png", 3).pixels);
    CHECK(read_image(dir + "/var.png", 3).pixels != read_image(dir + "/nv.png", 3).pixels);
    for (const auto& [file, subseed] : {std::pair<std::string, int>{"var.png", 7}, {"var_1.png", 8}}) {
        std::string var_params;
        for (const auto& [k, v] : read_png_text(dir + "/" + file))
            if (k == "parameters") var_params = v;
        CHECK(var_params.find("Variation seed: " + std::to_string(subseed) + ", Variation seed strength: 0.4") != std::string::npos);
    }
}

TEST_CASE("sdref img2img, inpainting, outpainting, batches and SLD run from files, for SD 1.x and SDXL", "[cli][pipeline][sdxl]") {
    for (const std::string& path : {test::golden_path("tiny-sd1.safetensors"), test::golden_v2_path("tiny-sdxl.safetensors")}) {
        INFO(path);
        const std::string dir = test::scratch_dir("cli-img2img");
        const std::string model = quote(path);
        // a 32x32 start image and a mask: left half kept, right half repainted
        Image init{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3)}, mask{32, 32, 1, std::vector<uint8_t>(32 * 32)};
        for (size_t i = 0; i < init.pixels.size(); ++i) init.pixels[i] = uint8_t(i * 7);
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x) mask.pixels[size_t(y * 32 + x)] = x >= 16 ? 255 : 0;
        write_png(dir + "/init.png", init);
        write_png(dir + "/mask.png", mask);
        CHECK(run("-m " + model + " -p x --steps 2 -i " + quote(dir + "/init.png") + " --strength 0.5 -o " + quote(dir + "/a.png")).status == 0);
        CHECK(run("-m " + model + " -p x --steps 2 -i " + quote(dir + "/init.png") + " --mask " + quote(dir + "/mask.png") + " -o " +
                  quote(dir + "/b.png")).status == 0);
        const Run out = run("-m " + model + " -p x --steps 2 -i " + quote(dir + "/init.png") + " --outpaint 8,0,8,16 -o " + quote(dir + "/c.png"));
        INFO(out.output);
        REQUIRE(out.status == 0);
        const Image c = read_image(dir + "/c.png", 3);
        CHECK(c.width == 48);
        CHECK(c.height == 48);
        // the original pixels come back untouched
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x)
                for (int k = 0; k < 3; ++k)
                    REQUIRE(c.pixels[size_t((y * 48 + x + 8) * 3 + k)] == init.pixels[size_t((y * 32 + x) * 3 + k)]);
        // a batch of two with Safe Latent Diffusion: two different pictures
        const Run batch = run("-m " + model + " -p x -W 32 -H 32 --steps 2 --sld medium -b 2 -o " + quote(dir + "/d.png"));
        INFO(batch.output);
        REQUIRE(batch.status == 0);
        CHECK(read_image(dir + "/d.png", 3).pixels != read_image(dir + "/d_1.png", 3).pixels);
    }
}

TEST_CASE("sdref rejects bad input with one clear line and writes no file", "[cli]") {
    const std::string dir = test::scratch_dir("cli-errors");
    const std::string model = quote(test::golden_path("tiny-sd1.safetensors"));
    const std::string out = dir + "/never.png";
    Image small{16, 16, 1, std::vector<uint8_t>(256)};
    write_png(dir + "/mask16.png", small);
    Image rgb{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3)};
    write_png(dir + "/img32.png", rgb);
    const std::pair<std::string, std::string> cases[] = {
        {"-m /nonexistent/model.safetensors -p x", "/nonexistent/model.safetensors"},
        {"-m " + model + " -p x -W 100", "multiple of 8"},
        {"-m " + model + " -p x --steps 0", "--steps"},
        {"-m " + model + " -p x --sampling-method foo", "euler_a"},
        {"-m " + model + " -p x --scheduler foo", "karras"},
        {"-m " + model + " -p x -i " + quote(dir + "/img32.png") + " --mask " + quote(dir + "/mask16.png"), "--mask"},
        {"-m " + model + " -p x -i " + quote(dir + "/missing.png"), "missing.png"},
        {"-m " + model + " -p x -i " + quote(dir + "/img32.png") + " -W 64 -H 64", "the init image is 32x32"},
        {"-m " + model + " -p x -i " + quote(dir + "/mask16.png") + " --strength 2", "--strength"},
        {"-m " + model, "--prompt"},
        {"-m " + model + " -p x --bogus", "--bogus"},
    };
    for (const auto& [args, expect] : cases) {
        const Run r = run(args + " -o " + quote(out));
        INFO("sdref " << args << "\n" << r.output);
        CHECK(r.status != 0);
        CHECK(r.output.find(expect) != std::string::npos);
        CHECK(r.output.find("sdref: error: ") != std::string::npos);
        CHECK_FALSE(file_exists(out));
    }
}

TEST_CASE("sdref --sld and --safety-checker: flagged images are reported and blacked out", "[cli][safety]") {
    const std::string dir = test::scratch_dir("cli-safety");
    const std::string png = dir + "/s.png";
    const Run r = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x -W 64 -H 64 --steps 2 --sld strong" +
                      " --safety-checker " + quote(test::golden_path("tiny-safety-checker.safetensors")) + " -o " + quote(png));
    INFO(r.output);
    REQUIRE(r.status == 0);
    std::string params;
    for (const auto& [k, v] : read_png_text(png))
        if (k == "parameters") params = v;
    CHECK(params.find(", SLD: strong") != std::string::npos);
    const bool flagged = params.find("Safety checker: flagged") != std::string::npos;
    CHECK((flagged || params.find("Safety checker: passed") != std::string::npos));
    CHECK(flagged == (r.output.find("flagged as NSFW") != std::string::npos));
    const Image img = read_image(png, 3);
    bool black = true;
    for (uint8_t v : img.pixels) black = black && v == 0;
    CHECK(black == flagged);
    CHECK(run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x --sld strong --cfg-scale 1 -o " + quote(dir + "/n.png")).status != 0);
}

// Every numeric flag is range-checked: below and above its range, the message names the flag and the range.
TEST_CASE("sdref checks the range of every numeric flag", "[cli]") {
    const std::string dir = test::scratch_dir("cli-ranges");
    const std::string out = dir + "/never.png";
    const std::string model = quote(test::golden_path("tiny-sd1.safetensors"));
    struct Case { const char* flag; const char* low; const char* high; const char* range; };
    const Case cases[] = {
        {"--steps", "0", "1001", "between 1 and 1000"},
        {"--cfg-scale", "-1", "101", "between 0 and 100"},
        {"--strength", "0", "1.5", "between 0.001 and 1"},
        {"-W", "0", "16392", "between 8 and 16384"},
        {"-H", "-8", "32768", "between 8 and 16384"},
        {"--seed", "-2", "9223372036854775808", "between -1 and 9223372036854775807"},
        {"--batch-count", "0", "10001", "between 1 and 10000"},
        {"--clip-skip", "0", "49", "between 1 and 48"},
        {"--threads", "0", "1025", "between 1 and 1024"},
    };
    for (const Case& c : cases) {
        SECTION(c.flag) {
            for (const char* value : {c.low, c.high}) {
                const Run r = run("-m " + model + " -p x " + c.flag + " " + value + " -o " + quote(out));
                INFO(c.flag << " " << value << ": " << r.output);
                CHECK(r.status != 0);
                CHECK(r.output.find(c.flag) != std::string::npos);
                // an integer past the 64-bit range is reported as not an integer; every other one with the range
                if (std::string(value) != "9223372036854775808") CHECK(r.output.find(c.range) != std::string::npos);
                CHECK_FALSE(file_exists(out));
            }
        }
    }
}

namespace {

// A copy of a checkpoint with the first value of one tensor set to NaN (the stored dtype's NaN bits).
std::string poisoned_copy(const std::string& src, const std::string& tensor, const std::string& dst) {
    std::string bytes = test::read_bytes(src);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    const Json header = Json::parse(bytes.substr(8, n), src);
    const Json& t = header.at(tensor);
    const size_t offset = 8 + n + size_t(t.at("data_offsets").items()[0].as_int());
    const std::string dtype = t.at("dtype").as_string();
    REQUIRE((dtype == "F16" || dtype == "F32"));
    if (dtype == "F16") bytes[offset] = '\x00', bytes[offset + 1] = '\x7e';
    else bytes[offset] = bytes[offset + 1] = '\x00', bytes[offset + 2] = '\xc0', bytes[offset + 3] = '\x7f';
    std::ofstream(dst, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return dst;
}

}  // namespace

TEST_CASE("NaN weights never become a picture: the stage and the tensor are named, no file is written", "[cli][reliability]") {
    const std::string dir = test::scratch_dir("cli-nan");
    const std::string src = test::golden_path("tiny-sd1.safetensors");
    const std::string out = dir + "/never.png";
    const std::pair<const char*, const char*> cases[] = {
        {"cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight", "the text encoder"},
        {"model.diffusion_model.out.2.weight", "the U-Net at step 1 of 2"},
        {"first_stage_model.decoder.conv_out.weight", "the VAE decoder"},
    };
    for (const auto& [tensor, stage] : cases) {
        SECTION(stage) {
            const std::string model = poisoned_copy(src, tensor, dir + "/nan.safetensors");
            const Run r = run("-m " + quote(model) + " -p cat -W 64 -H 64 --steps 2 -o " + quote(out));
            INFO(r.output);
            CHECK(r.status != 0);
            CHECK(r.output.find(stage) != std::string::npos);
            CHECK(r.output.find(tensor) != std::string::npos);
            CHECK_FALSE(file_exists(out));

            const Run scan = run("inspect --check " + quote(model));
            INFO(scan.output);
            CHECK(scan.status != 0);
            CHECK(scan.output.find(std::string(tensor) + " F16") != std::string::npos);
            CHECK(scan.output.find("1 of ") != std::string::npos);
        }
    }
    const Run clean = run("inspect --check " + quote(src));
    CHECK(clean.status == 0);
    CHECK(clean.output.find("are finite") != std::string::npos);
    const Run folder = run("inspect --check " + quote(test::golden_path("tiny-sd1-diffusers")));
    CHECK(folder.status == 0);
}

TEST_CASE("a generation too large for the machine is refused before it starts, with an estimate", "[cli][reliability]") {
    const std::string dir = test::scratch_dir("cli-oom");
    const std::string out = dir + "/never.png";
    const Run r = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p cat -W 16384 -H 16384 -o " + quote(out));
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(r.output.find("--width 16384 --height 16384: this generation needs about") != std::string::npos);
    CHECK(r.output.find("available") != std::string::npos);
    CHECK_FALSE(file_exists(out));
}

TEST_CASE("an image whose header claims a huge size is refused before any pixel is decoded", "[cli][reliability]") {
    // a PNG signature, an IHDR chunk for 20000 x 8000 RGB, an empty IDAT and IEND: no pixels at all
    std::string png = "\x89PNG\r\n\x1a\n";
    std::string ihdr = "IHDR";
    for (uint32_t v : {20000u, 8000u}) for (int s = 24; s >= 0; s -= 8) ihdr += char((v >> s) & 0xff);
    ihdr += std::string("\x08\x02\x00\x00\x00", 5);
    auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
    auto chunk = [&](const std::string& body) {
        return be32(uint32_t(body.size() - 4)) + body + be32(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
    };
    png += chunk(ihdr) + chunk("IDAT") + chunk("IEND");
    const std::string dir = test::scratch_dir("cli-huge-image");
    std::ofstream(dir + "/huge.png", std::ios::binary) << png;
    CHECK_THROWS_WITH(read_image(dir + "/huge.png", 3), Catch::Contains(dir + "/huge.png") && Catch::Contains("20000x8000") &&
                                                            Catch::Contains("16384"));
    const Run r = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x -i " + quote(dir + "/huge.png") +
                      " -o " + quote(dir + "/never.png"));
    CHECK(r.status != 0);
    CHECK(r.output.find("20000x8000") != std::string::npos);
    CHECK_FALSE(file_exists(dir + "/never.png"));
}

TEST_CASE("without -m sdref uses the demo model installed beside it, and says where it looked when it is not", "[cli]") {
    const std::string dir = test::scratch_dir("default-model");
    // beside the binary under test (the build copies it there): works from any working directory
    const Run here = run("-p 'a red circle' -o " + quote(dir + "/out.png") + " -v");
    INFO(here.output);
    CHECK(here.status == 0);
    CHECK(here.output.find("tinyshapes.safetensors") != std::string::npos);
    CHECK(read_image(dir + "/out.png", 3).width == 64);  // the model's own size, from its metadata
    // a copy of the binary with no model beside it
    const std::string lonely = dir + "/sdref";
    std::filesystem::copy_file(test::sdref_binary(), lonely);
    std::filesystem::permissions(lonely, std::filesystem::perms::owner_all);
    const Run none = test::run_binary(lonely, "-p 'a red circle' -o " + quote(dir + "/none.png"));
    CHECK(none.status != 0);
    INFO(none.output);
    CHECK(none.output.find("no model given, and the demo model tinyshapes.safetensors is not installed beside sdref (looked in " + dir +
                   "/tinyshapes.safetensors") != std::string::npos);
    CHECK_FALSE(file_exists(dir + "/none.png"));
}

namespace {

// `key` of a golden's call as an "A,B" flag value in sdref's order (width/x first; diffusers stores h,w / top,left).
std::string swapped_pair(const Json& call, const char* key) {
    const std::vector<Json>& v = call.at(key).items();
    return std::to_string(v[1].as_int()) + "," + std::to_string(v[0].as_int());
}

// The final latents of `png`'s generation (--save-latents) against a golden's, at the pipeline tolerance.
void check_latents(const std::string& saved, const SafetensorsFile& golden, const std::string& what) {
    const Tensor got = SafetensorsFile(saved).load_f32("latents"), ref = golden.load_f32("latents");
    test::check_close(what, got, ref, 1e-3);
}

}  // namespace

TEST_CASE("sdref draws the SDXL goldens from single files with the family's defaults, flags in sdref's order", "[cli][sdxl][golden]") {
    const std::string dir = test::scratch_dir("cli-sdxl");
    const std::string base = quote(test::golden_v2_path("tiny-sdxl.safetensors")),
                      refiner = quote(test::golden_v2_path("tiny-sdxl-refiner.safetensors"));
    {  // no negative prompt (zeros), micro-conditioning given as --original-size W,H and --crop-top-left X,Y
        const SafetensorsFile g(test::golden_v2_path("pipe_sdxl_euler_zero_uncond.safetensors"));
        const Json c = Json::parse(g.meta("call"), "call");
        const Run r = run("-m " + base + " -p " + quote(c.at("prompt").as_string()) + " -W " + std::to_string(c.at("width").as_int()) +
                          " -H " + std::to_string(c.at("height").as_int()) + " --steps " + std::to_string(c.at("num_inference_steps").as_int()) +
                          " --cfg-scale " + cat(c.at("guidance_scale").as_number()) + " -s " + std::to_string(c.at("seed").as_int()) +
                          " --sampling-method euler --original-size " + swapped_pair(c, "original_size") + " --crop-top-left " +
                          swapped_pair(c, "crops_coords_top_left") + " --target-size " + swapped_pair(c, "target_size") + " -o " +
                          quote(dir + "/zero.png") + " --save-latents " + quote(dir + "/zero.safetensors"));
        INFO(r.output);
        REQUIRE(r.status == 0);
        check_latents(dir + "/zero.safetensors", g, "pipe_sdxl_euler_zero_uncond via sdref");
    }
    {  // base + refiner: --refiner and --refiner-start
        const SafetensorsFile g(test::golden_v2_path("pipe_sdxl_base_refiner.safetensors"));
        const Json c = Json::parse(g.meta("call"), "call");
        const Run r = run("-m " + base + " --refiner " + refiner + " --refiner-start " + cat(c.at("denoising_split").as_number()) + " -p " +
                          quote(c.at("prompt").as_string()) + " -n " + quote(c.at("negative_prompt").as_string()) + " -W " +
                          std::to_string(c.at("width").as_int()) + " -H " + std::to_string(c.at("height").as_int()) + " --steps " +
                          std::to_string(c.at("num_inference_steps").as_int()) + " --cfg-scale " + cat(c.at("guidance_scale").as_number()) +
                          " -s " + std::to_string(c.at("base_seed").as_int()) + " --sampling-method euler --aesthetic-score " +
                          cat(c.at("aesthetic_score").as_number()) + " --negative-aesthetic-score " +
                          cat(c.at("negative_aesthetic_score").as_number()) + " -o " + quote(dir + "/refined.png") + " --save-latents " +
                          quote(dir + "/refined.safetensors"));
        INFO(r.output);
        REQUIRE(r.status == 0);
        check_latents(dir + "/refined.safetensors", g, "pipe_sdxl_base_refiner via sdref");
        std::string params;
        for (const auto& [k, v] : read_png_text(dir + "/refined.png"))
            if (k == "parameters") params = v;
        CHECK(params.find("Model: tiny-sdxl, Refiner: tiny-sdxl-refiner, Refiner switch at: " + cat(c.at("denoising_split").as_number())) !=
              std::string::npos);
    }
    const Run pair = run("-m " + base + " -p x --original-size 1024");
    CHECK(pair.status != 0);
    CHECK(pair.output.find("--original-size: \"1024\" is not two whole numbers A,B") != std::string::npos);
    const Run start = run("-m " + base + " -p x --refiner-start 0.5");
    CHECK(start.status != 0);
    CHECK(start.output.find("--refiner-start needs --refiner") != std::string::npos);
}

TEST_CASE("sdref --lora and <lora:NAME:WEIGHT> prompt tags merge the same LoRA, the tag stays in the PNG's prompt", "[cli][addons][golden]") {
    const std::string dir = test::scratch_dir("cli-lora");
    const std::string model = quote(test::golden_path("tiny-sd1.safetensors"));
    const std::string common = " -W 32 -H 32 --steps 2 -s 3 -t 1";
    auto latents = [&](const std::string& name) { return SafetensorsFile(dir + "/" + name + ".safetensors").load_f32("latents"); };
    // the case's tag and multiplier (lora.safetensors), and the layers its file holds (one lora_down per layer)
    const SafetensorsFile g(test::golden_v2_path("lora.safetensors"));
    const std::string tag_text = g.meta("a1111_prompt_tag"), multiplier = g.meta("multiplier");
    REQUIRE(tag_text == "<lora:tiny-sd1-lora:" + multiplier + ">");
    const std::string down = ".lora_down.weight";
    size_t layers = 0;
    const SafetensorsFile lora(test::golden_v2_path("tiny-sd1-lora.safetensors"));
    for (const TensorView& v : lora.tensors())
        layers += v.name.size() > down.size() && v.name.compare(v.name.size() - down.size(), down.size(), down) == 0;
    const Run tag = run("-m " + model + " -p 'a cat " + tag_text + "' --lora-model-dir " + quote(test::golden_v2_dir()) + common +
                        " -o " + quote(dir + "/tag.png") + " --save-latents " + quote(dir + "/tag.safetensors") + " -v");
    INFO(tag.output);
    REQUIRE(tag.status == 0);
    CHECK(tag.output.find("LoRAs: " + std::to_string(layers) + " layers changed") != std::string::npos);
    const Run flag = run("-m " + model + " -p 'a cat' --lora " + quote(test::golden_v2_path("tiny-sd1-lora.safetensors") + ":" + multiplier) + common +
                         " -o " + quote(dir + "/flag.png") + " --save-latents " + quote(dir + "/flag.safetensors"));
    REQUIRE(flag.status == 0);
    const Run plain = run("-m " + model + " -p 'a cat'" + common + " -o " + quote(dir + "/plain.png") + " --save-latents " +
                          quote(dir + "/plain.safetensors"));
    REQUIRE(plain.status == 0);
    const Tensor a = latents("tag"), b = latents("flag"), c = latents("plain");
    CHECK(std::memcmp(a.data(), b.data(), size_t(a.numel()) * 4) == 0);
    CHECK(std::memcmp(a.data(), c.data(), size_t(a.numel()) * 4) != 0);
    std::string params;
    for (const auto& [k, v] : read_png_text(dir + "/tag.png"))
        if (k == "parameters") params = v;
    CHECK(params.rfind("a cat " + tag_text + "\n", 0) == 0);
    CHECK(params.find(", Lora hashes: \"tiny-sd1-lora: " + addon_sha256(test::golden_v2_path("tiny-sd1-lora.safetensors")).substr(0, 12) + "\"") !=
          std::string::npos);

    const Run no_dir = run("-m " + model + " -p 'a cat " + tag_text + "'" + common + " -o " + quote(dir + "/x.png"));
    CHECK(no_dir.status != 0);
    CHECK(no_dir.output.find("--lora-model-dir") != std::string::npos);
    const Run missing = run("-m " + model + " -p 'a <lora:nothing>' --lora-model-dir " + quote(dir) + common + " -o " + quote(dir + "/x.png"));
    CHECK(missing.status != 0);
    CHECK(missing.output.find("no nothing.safetensors") != std::string::npos);
    CHECK_FALSE(file_exists(dir + "/x.png"));
}

TEST_CASE("sdref --embd-dir uses the embeddings the prompt names", "[cli][addons][golden]") {
    const std::string dir = test::scratch_dir("cli-embd");
    const SafetensorsFile g(test::golden_v2_path("textual_inversion.safetensors"));
    const std::string prompt = quote(g.meta("prompt")), model = quote(test::golden_path("tiny-sd1.safetensors"));
    std::ofstream(dir + "/" + g.meta("word") + ".pt", std::ios::binary) << test::read_bytes(test::golden_v2_path(g.meta("word") + ".pt"));
    const std::string common = " -W 32 -H 32 --steps 2 -s 5 --cfg-scale 1 -t 1";
    const Run with = run("-m " + model + " -p " + prompt + " --embd-dir " + quote(dir) + common + " -o " + quote(dir + "/a.png") +
                         " --save-latents " + quote(dir + "/a.safetensors"));
    INFO(with.output);
    REQUIRE(with.status == 0);
    const Run without = run("-m " + model + " -p " + prompt + common + " -o " + quote(dir + "/b.png") + " --save-latents " +
                            quote(dir + "/b.safetensors"));
    REQUIRE(without.status == 0);
    const Tensor a = SafetensorsFile(dir + "/a.safetensors").load_f32("latents"), b = SafetensorsFile(dir + "/b.safetensors").load_f32("latents");
    CHECK(std::memcmp(a.data(), b.data(), size_t(a.numel()) * 4) != 0);
    const Run bad = run("-m " + model + " -p x --embd-dir " + quote(dir + "/none") + common + " -o " + quote(dir + "/c.png"));
    CHECK(bad.status != 0);
    CHECK(bad.output.find("--embd-dir") != std::string::npos);
}

TEST_CASE("sdref --control-net draws the ControlNet golden, the control image must have the picture's size", "[cli][controlnet][golden]") {
    const std::string dir = test::scratch_dir("cli-controlnet");
    const SafetensorsFile g(test::golden_v2_path("pipe_controlnet_ddim.safetensors"));
    const Json c = Json::parse(g.meta("call"), "call");
    const Image control = test::image_from_u8(g.load_f32("control_image_u8"));
    write_png(dir + "/control.png", control);
    const std::string args = "-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p " + quote(c.at("prompt").as_string()) + " -n " +
                             quote(c.at("negative_prompt").as_string()) + " -W " + std::to_string(c.at("width").as_int()) + " -H " +
                             std::to_string(c.at("height").as_int()) + " --steps " + std::to_string(c.at("num_inference_steps").as_int()) +
                             " --cfg-scale " + cat(c.at("guidance_scale").as_number()) + " -s " + std::to_string(c.at("seed").as_int()) +
                             " --sampling-method ddim --control-net " + quote(test::golden_v2_path("tiny-controlnet-diffusers")) +
                             " --control-image " + quote(dir + "/control.png") + " --control-strength " +
                             cat(c.at("controlnet_conditioning_scale").as_number());
    const Run r = run(args + " -o " + quote(dir + "/out.png") + " --save-latents " + quote(dir + "/out.safetensors"));
    INFO(r.output);
    REQUIRE(r.status == 0);
    check_latents(dir + "/out.safetensors", g, "pipe_controlnet_ddim via sdref");
    std::string params;
    for (const auto& [k, v] : read_png_text(dir + "/out.png"))
        if (k == "parameters") params = v;
    CHECK(params.find("ControlNet 0: \"Model: tiny-controlnet-diffusers, Module: none, Weight: " +
                      cat(c.at("controlnet_conditioning_scale").as_number()) + ", Guidance Start: 0, Guidance End: 1\"") != std::string::npos);

    const Run small = run(args + " -W 64 -H 64 -o " + quote(dir + "/small.png"));
    CHECK(small.status != 0);
    CHECK(small.output.find("--control-image") != std::string::npos);
    const Run orphan = run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x --control-strength 0.5");
    CHECK(orphan.status != 0);
    CHECK(orphan.output.find("--control-strength needs a --control-net") != std::string::npos);
    const Run foreign = run("-m " + quote(test::golden_v2_path("tiny-sdxl.safetensors")) + " -p x -W 128 -H 128 --steps 1 --control-net " +
                            quote(test::golden_v2_path("tiny-controlnet.safetensors")) + " --control-image " + quote(dir + "/control.png") +
                            " -o " + quote(dir + "/foreign.png"));
    CHECK(foreign.status != 0);
    CHECK(foreign.output.find("another model family") != std::string::npos);
}

// --precision bf16 (the demo model, 20 steps, three prompts): close to fp32's picture (PSNR >= 30 dB, the issue's
// bar) but not the same bits, written to the PNG; on a CPU without bf16 instructions: said, and fp32's bits.
TEST_CASE("bf16 precision: the demo model's pictures within 30 dB of fp32, and the PNG says so", "[cli][bf16]") {
    const std::string dir = test::scratch_dir("cli-bf16");
    const std::string prompts[] = {"a yellow star on a green background", "a small red circle at the top left",
                                   "a blue square and a white triangle"};
    for (size_t i = 0; i < 3; ++i) {
        const std::string common = "-p " + quote(prompts[i]) + " --steps 20 -s " + std::to_string(10 + i) + " -o ";
        const std::string fp32 = dir + "/fp32_" + std::to_string(i) + ".png", bf16 = dir + "/bf16_" + std::to_string(i) + ".png";
        REQUIRE(run(common + quote(fp32)).status == 0);
        const Run out = run(common + quote(bf16) + " --precision BF16");
        INFO(prompts[i] << "\n" << out.output);
        REQUIRE(out.status == 0);
        const Image a = read_image(fp32, 3), b = read_image(bf16, 3);
        std::string parameters;
        for (const auto& [k, v] : read_png_text(bf16))
            if (k == "parameters") parameters = v;
        if (!kernels::precision_supported(kernels::Precision::BF16)) {
            CHECK_THAT(out.output, Catch::Contains("--precision bf16: this CPU has no bf16"));
            CHECK(a.pixels == b.pixels);
            CHECK_THAT(parameters, !Catch::Contains("Precision"));
            continue;
        }
        double sq = 0;
        for (size_t k = 0; k < a.pixels.size(); ++k) sq += (double(a.pixels[k]) - b.pixels[k]) * (double(a.pixels[k]) - b.pixels[k]);
        const double psnr = 10 * std::log10(255.0 * 255.0 / std::max(sq / double(a.pixels.size()), 1e-12));
        INFO("PSNR " << psnr << " dB");
        CHECK(psnr >= 30);
        CHECK(a.pixels != b.pixels);
        CHECK_THAT(parameters, Catch::Contains("Precision: bf16"));
    }
    const Run bad = run("-p x --precision fp8 -o " + quote(dir + "/x.png"));
    CHECK(bad.status != 0);
    CHECK_THAT(bad.output, Catch::Contains("--precision") && Catch::Contains("fp8") && Catch::Contains("fp32, bf16"));
}
