// The sdref binary itself: output and exit codes.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <sstream>

#include <fstream>

#include "golden.h"
#include "io/safetensors.h"
#include "pipeline/image.h"

using namespace sdref;

namespace {

struct Run {
    int status;
    std::string output;  // stdout and stderr together
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Run run(const std::string& args) {
    const std::string cmd = quote(test::sdref_binary()) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

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
}

TEST_CASE("sdref img2img, inpainting and outpainting run from files", "[cli][pipeline]") {
    const std::string dir = test::scratch_dir("cli-img2img");
    const std::string model = quote(test::golden_path("tiny-sd1.safetensors"));
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
    CHECK(params.find("SLD: guidance 2000 warmup 7") != std::string::npos);
    const bool flagged = params.find("Safety checker: flagged") != std::string::npos;
    CHECK((flagged || params.find("Safety checker: passed") != std::string::npos));
    CHECK(flagged == (r.output.find("flagged as NSFW") != std::string::npos));
    const Image img = read_image(png, 3);
    bool black = true;
    for (uint8_t v : img.pixels) black = black && v == 0;
    CHECK(black == flagged);
    CHECK(run("-m " + quote(test::golden_path("tiny-sd1.safetensors")) + " -p x --sld strong --cfg-scale 1 -o " + quote(dir + "/n.png")).status != 0);
}
