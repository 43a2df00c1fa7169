// The HTTP server end to end: `Server` on 127.0.0.1 at a port the system picks, with the demo model (or a golden
// model), talked to with cpp-httplib's client. Pictures from the API are compared with the sdref command's for
// the same settings, pixel for pixel: both go through the one parameter table and the one Engine.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "app/params.h"
#include "cli/default_model.h"
#include "core/base64.h"
#include "golden.h"
#include "kernels/gemm.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/upscaler.h"
#include "pipeline/image.h"
#include "core/error.h"
#include "pipeline/generate.h"
#include "pipeline/preview.h"
#include "server/server.h"

using namespace sdref;
using nlohmann::json;

namespace {

// A server running on its own thread for the life of the object.
struct TestServer {
    std::unique_ptr<Server> server;
    std::thread thread;
    int port = 0;

    explicit TestServer(const std::string& model, ServeOptions o = {}, Folders folders = {}) {
        const ServeOptions d = defaults();
        if (o.listen.empty()) o = d;
        server = std::make_unique<Server>(o, folders, model);
        port = server->bind();
        thread = std::thread([this] { server->run(); });
    }
    ~TestServer() {
        server->stop();
        thread.join();
    }
    static ServeOptions defaults() {
        ServeOptions o;
        o.listen = "127.0.0.1";
        o.port = 0;
        o.max_body_mb = 64;
        o.max_queue = 64;
        o.max_images = 16;
        o.low_memory = o.verbose = false;
        return o;
    }
    std::unique_ptr<httplib::Client> client() const {
        auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
        // generous: on a loaded CI machine a 12-step request once took 290 s (ctest's own limit is 1500 s)
        c->set_read_timeout(900, 0);
        return c;
    }
};

std::string demo_model() { return std::string(SDREF_SOURCE_DIR) + "/models/tinyshapes.safetensors"; }

json post(const TestServer& s, const std::string& path, const json& body, int expect = 200) {
    const auto c = s.client();
    const auto r = c->Post(path.c_str(), body.dump(), "application/json");
    REQUIRE(r);
    INFO(path << " -> " << r->status << " " << r->body.substr(0, 400));
    REQUIRE(r->status == expect);
    return json::parse(r->body);
}

json get(const TestServer& s, const std::string& path) {
    const auto c = s.client();
    const auto r = c->Get(path.c_str());
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return json::parse(r->body);
}

Image decode_b64(const std::string& b64, int channels = 3) {
    const std::vector<uint8_t> bytes = base64_decode(b64, "test");
    return decode_image(bytes.data(), bytes.size(), channels, "test");
}

std::string parameters_of(const std::string& b64) {
    const std::vector<uint8_t> bytes = base64_decode(b64, "test");
    for (const auto& [k, v] : png_text(bytes.data(), bytes.size(), "test"))
        if (k == "parameters") return v;
    return "";
}

}  // namespace

TEST_CASE("the parameter table: one row per flag, field and PNG key, PNG parameters read back", "[server][params]") {
    std::set<std::string> flags, fields, keys;
    for (const auto& p : generation_params()) {
        if (p.flag) CHECK(flags.insert(p.flag).second);
        if (p.alias) CHECK(flags.insert(p.alias).second);
        if (p.field) CHECK(fields.insert(p.field).second);
        if (p.png) CHECK(keys.insert(p.png).second);
        CHECK(std::string(p.help).size() > 5);
    }
    // a request with non-default values, written as infotext and parsed back, gives the same text for every key
    GenerationRequest r = with_defaults(generation_params(), Origin::Cli);
    r.prompt = "a cat, sitting";
    r.negative_prompt = "blur";
    r.steps = 13;
    r.sampler = "dpm++2m";
    r.scheduler = "karras";
    r.cfg_scale = 7;  // (left unset, the engine gives it the model's)
    r.width = 72;
    r.height = 48;
    r.clip_skip = 2;
    r.sld = "strong";
    const std::string text = png_parameters(r, 99, "model", "");
    CHECK(text == "a cat, sitting\nNegative prompt: blur\nSteps: 13, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 99, Size: 72x48, "
                  "Model: model, Clip skip: 2, SLD: strong");
    std::map<std::string, std::string> back;
    for (const auto& [k, v] : parse_png_parameters(text)) back[k] = v;
    CHECK(back["Prompt"] == "a cat, sitting");
    CHECK(back["Negative prompt"] == "blur");
    CHECK(back["Steps"] == "13");
    CHECK(back["Size-1"] == "72");
    CHECK(back["Sampler"] == "DPM++ 2M Karras");
    // A1111's sampler names reach sdref's
    CHECK(normalize_sampler("DPM++ 2M Karras", "s") == "dpm++2m karras");
    CHECK(normalize_sampler("k_euler_a", "s") == "euler_a");
    CHECK_THROWS_WITH(normalize_sampler("DDIM Karras", "sampler_name"), Catch::Contains("no Karras"));
}

TEST_CASE("sdref serve: txt2img draws what the sdref command draws, with A1111's response", "[server]") {
    const TestServer s(demo_model());
    const json r = post(s, "/sdapi/v1/txt2img",
                        {{"prompt", "a red circle on a blue background"}, {"steps", 6}, {"seed", 11}, {"sampler_name", "DPM++ 2M Karras"},
                         {"cfg_scale", 5}, {"batch_size", 2}});
    REQUIRE(r["images"].size() == 2);
    const json info = json::parse(r["info"].get<std::string>());
    CHECK(info["all_seeds"] == json({11, 12}));
    CHECK(r["parameters"]["sampler_name"] == "DPM++ 2M");
    CHECK(r["parameters"]["scheduler"] == "karras");
    const std::string params = parameters_of(r["images"][1]);
    CHECK(params.find("Steps: 6, Sampler: DPM++ 2M Karras, CFG scale: 5, Seed: 12, Size: 64x64, Model: tinyshapes") != std::string::npos);
    CHECK(info["infotexts"][1] == params);

    const std::string dir = test::scratch_dir("server-txt2img");
    const test::Run cli = test::run("-m " + test::quote(demo_model()) + " -p 'a red circle on a blue background' --steps 6 -s 12 " +
                                    "--sampling-method dpm++2m --scheduler karras --cfg-scale 5 -o " + test::quote(dir + "/cli.png"));
    INFO(cli.output);
    REQUIRE(cli.status == 0);
    const Image a = decode_b64(r["images"][1]), b = read_image(dir + "/cli.png", 3);
    CHECK(a.width == b.width);
    CHECK(a.pixels == b.pixels);
    const Image first = decode_b64(r["images"][0]);
    CHECK(first.pixels != a.pixels);

    // OpenAI's endpoint
    const json o = post(s, "/v1/images/generations", {{"prompt", "a green star"}, {"n", 2}, {"size", "64x64"}, {"response_format", "b64_json"}});
    REQUIRE(o["data"].size() == 2);
    CHECK(decode_b64(o["data"][0]["b64_json"]).width == 64);
    post(s, "/v1/images/generations", {{"prompt", "x"}, {"response_format", "url"}}, 422);

    // PNG Info reads the parameters back
    const json png = post(s, "/sdapi/v1/png-info", {{"image", r["images"][1]}});
    CHECK(png["info"] == params);
    CHECK(png["parameters"]["Seed"] == "12");
    CHECK(png["parameters"]["Size-2"] == "64");
}

TEST_CASE("sdref serve: txt2img with enable_hr runs the hires fix with A1111's fields", "[server][hires]") {
    const TestServer s(demo_model());
    const json r = post(s, "/sdapi/v1/txt2img",
                        {{"prompt", "a red circle on a blue background"}, {"steps", 4}, {"seed", 3}, {"enable_hr", true}, {"hr_scale", 1.5},
                         {"hr_second_pass_steps", 3}, {"hr_upscaler", "Latent (nearest)"}, {"denoising_strength", 0.5}});
    const Image img = decode_b64(r["images"][0]);
    CHECK(img.width == 96);
    CHECK(img.height == 96);
    CHECK_THAT(parameters_of(r["images"][0]),
               Catch::EndsWith("Size: 64x64, Model: tinyshapes, Denoising strength: 0.5, Hires upscale: 1.5, Hires steps: 3, "
                               "Hires upscaler: Latent (nearest)"));
    // A1111's clients send the hr_ fields with enable_hr off too: a plain picture
    const json plain = post(s, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"steps", 2}, {"enable_hr", false}, {"hr_scale", 2}});
    CHECK(decode_b64(plain["images"][0]).width == 64);
    post(s, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"steps", 2}, {"enable_hr", true}, {"hr_upscaler", "ESRGAN_4x"}}, 422);
}

TEST_CASE("sdref serve --precision bf16 runs every request's products in bf16, and the PNG says so", "[server][bf16]") {
    ServeOptions o = TestServer::defaults();
    o.precision = "bf16";
    const TestServer s(demo_model(), o);
    const json r = post(s, "/sdapi/v1/txt2img", {{"prompt", "a red circle"}, {"steps", 3}, {"seed", 1}});
    const std::string params = parameters_of(r["images"][0]);
    if (kernels::precision_supported(kernels::Precision::BF16)) CHECK_THAT(params, Catch::EndsWith(", Precision: bf16"));
    else CHECK_THAT(params, !Catch::Contains("Precision"));
}

TEST_CASE("sdref serve: the listing endpoints and switching the model by name, only inside its folder", "[server]") {
    const std::string dir = test::scratch_dir("server-folders");
    std::filesystem::create_directories(dir + "/models");
    std::filesystem::copy_file(test::golden_path("tiny-sd1.safetensors"), dir + "/models/tiny-sd1.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
    std::ofstream(dir + "/secret.safetensors") << "not for the API";
    Folders f;
    f.models = dir + "/models";
    f.loras = test::golden_v2_dir();
    const TestServer s(demo_model(), TestServer::defaults(), f);
    const json models = get(s, "/sdapi/v1/sd-models");
    REQUIRE(models.size() == 1);
    CHECK(models[0]["model_name"] == "tiny-sd1");
    // the resident model's defaults, as its Denoiser states them (the page's fields start from these)
    const StableDiffusionModel demo = StableDiffusionModel::load(demo_model());
    const json resident = get(s, "/sdref/v1/model");
    CHECK(resident["width"] == demo.denoiser().info().default_width);
    CHECK(resident["height"] == demo.denoiser().info().default_height);
    CHECK(resident["steps"] == demo.denoiser().info().default_steps);
    CHECK(resident["family"] == demo.info().family->name);
    CHECK(get(s, "/sdapi/v1/samplers").size() >= 14);
    CHECK(get(s, "/sdapi/v1/schedulers").size() == schedule_names().size());
    const json loras = get(s, "/sdapi/v1/loras");
    bool found = false;
    for (const json& l : loras) found = found || l["name"] == "tiny-sd1-lora";
    CHECK(found);
    CHECK(get(s, "/sdapi/v1/options")["sd_model_checkpoint"] == "tinyshapes.safetensors");

    // names that try to leave the folder are refused; nothing outside is opened
    for (const char* name : {"../secret", "../secret.safetensors", "/etc/passwd", "..", "models/../../secret"}) {
        const json e = post(s, "/sdapi/v1/options", {{"sd_model_checkpoint", name}}, 422);
        CHECK(e["detail"].get<std::string>().find("no ") != std::string::npos);
    }
    const json t = post(s, "/sdapi/v1/txt2img", {{"prompt", "x <lora:../tiny-sd1-lora:1>"}, {"steps", 1}}, 422);
    CHECK(t["detail"].get<std::string>().find("<lora:../tiny-sd1-lora>") != std::string::npos);
    post(s, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"steps", 1}, {"override_settings", {{"sd_model_checkpoint", "../secret"}}}}, 422);
    post(s, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"steps", 1}, {"sd_vae", "/etc/passwd"}}, 422);

    // switching by A1111's title (with a hash) makes it resident; a LoRA from the folder then applies
    post(s, "/sdapi/v1/options", {{"sd_model_checkpoint", "tiny-sd1.safetensors [0123456789]"}});
    CHECK(get(s, "/sdapi/v1/options")["sd_model_checkpoint"] == "tiny-sd1.safetensors");
    const json plain = post(s, "/sdapi/v1/txt2img", {{"prompt", "a cat"}, {"steps", 2}, {"seed", 3}, {"width", 32}, {"height", 32}});
    const json lora = post(s, "/sdapi/v1/txt2img", {{"prompt", "a cat <lora:tiny-sd1-lora:0.8>"}, {"steps", 2}, {"seed", 3}, {"width", 32}, {"height", 32}});
    CHECK(decode_b64(plain["images"][0]).pixels != decode_b64(lora["images"][0]).pixels);
    CHECK(parameters_of(lora["images"][0]).find("Lora hashes: \"tiny-sd1-lora: ") != std::string::npos);
}

TEST_CASE("sdref serve: bad requests get a 4xx JSON error naming the field, and the server stays up", "[server][reliability]") {
    ServeOptions o = TestServer::defaults();
    o.max_body_mb = 1;
    const TestServer s(demo_model(), o);
    const auto c = s.client();
    struct Case { std::string body; int status; const char* field; };
    const Case cases[] = {
        {"{\"prompt\": ", 400, ""},
        {"[1, 2]", 400, ""},
        {R"({"prompt": "x", "steps": 100000})", 422, "steps"},
        {R"({"prompt": "x", "steps": "many"})", 422, "steps"},
        {R"({"prompt": "x", "width": 1000000, "height": 64})", 422, "width"},
        {R"({"prompt": "x", "cfg_scale": -3})", 422, "cfg_scale"},
        {R"({"prompt": "x", "sampler_name": "Warp Drive"})", 422, "sampler_name"},
        {R"({"prompt": "x", "scheduler": "Cosine"})", 422, "scheduler"},
        {R"({"prompt": "x", "seed": -5})", 422, "seed"},
        {R"({"prompt": "x", "n_iter": 100, "batch_size": 64})", 422, "batch_size"},
        {R"({"prompt": "x", "restore_faces": true})", 422, "restore_faces"},
        {R"({"prompt": "x", "enable_hr": true, "hr_scale": 20})", 422, "hr_scale"},
        {R"({"prompt": ["x"]})", 422, "prompt"},
        {R"({"prompt": "x", "init_images": ["AAAA"]})", 422, "init_images"},
        {R"({"prompt": "x", "alwayson_scripts": {"controlnet": {"args": [{"model": "m", "image": "!!"}]}}})", 422,
         "alwayson_scripts.controlnet.args[0].image"},
    };
    for (const Case& k : cases) {
        const auto r = c->Post("/sdapi/v1/txt2img", k.body, "application/json");
        REQUIRE(r);
        INFO(k.body << " -> " << r->status << " " << r->body);
        CHECK(r->status == k.status);
        const json e = json::parse(r->body);
        CHECK(e.contains("detail"));
        if (*k.field) CHECK(e["field"] == k.field);
    }
    // img2img: garbage base64, an image that is not one
    CHECK(c->Post("/sdapi/v1/img2img", R"({"prompt": "x", "init_images": ["%%%"]})", "application/json")->status == 422);
    CHECK(c->Post("/sdapi/v1/img2img", json({{"prompt", "x"}, {"init_images", {base64_encode("not an image")}}}).dump(), "application/json")->status ==
          422);
    // an init image of another size than the one asked for: named as the API names it
    const Image small{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3, 100)};
    const auto sized = c->Post("/sdapi/v1/img2img", json({{"prompt", "x"}, {"width", 128}, {"height", 128}, {"init_images", {base64_encode(encode_png(small))}}}).dump(),
                               "application/json");
    REQUIRE(sized);
    CHECK(sized->status == 422);
    CHECK(sized->body.find("init_images: the init image is 64x64, the requested size is 128x128") != std::string::npos);
    // an absurd size that passes the range is refused by the memory estimate, not by a crash
    const auto huge = c->Post("/sdapi/v1/txt2img", R"({"prompt": "x", "width": 16384, "height": 16384, "steps": 1})", "application/json");
    REQUIRE(huge);
    CHECK(huge->status == 422);
    CHECK(huge->body.find("width 16384 height 16384: this generation needs about") != std::string::npos);  // the API's own names
    CHECK(huge->body.find("-W") == std::string::npos);
    // a body over --max-body-mb
    const auto big = c->Post("/sdapi/v1/txt2img", std::string(2 << 20, ' '), "application/json");
    REQUIRE(big);
    CHECK(big->status == 413);
    CHECK(json::parse(big->body).contains("detail"));
    const auto missing = c->Get("/sdapi/v1/nothing");
    REQUIRE(missing);
    CHECK(missing->status == 404);
    // still serving
    CHECK(post(s, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"steps", 1}})["images"].size() == 1);
}

TEST_CASE("sdref serve --api-key and --api-auth guard every route", "[server][security]") {
    ServeOptions o = TestServer::defaults();
    o.api_key = "s3cret";
    {
        const TestServer s(demo_model(), o);
        const auto c = s.client();
        for (const char* path : {"/", "/sdapi/v1/sd-models", "/sdapi/v1/progress", "/sdref/v1/params"}) {
            const auto r = c->Get(path);
            REQUIRE(r);
            CHECK(r->status == 401);
        }
        CHECK(c->Post("/sdapi/v1/txt2img", R"({"prompt": "x"})", "application/json")->status == 401);
        CHECK(c->Get("/", {{"Authorization", "Bearer wrong"}})->status == 401);
        CHECK(c->Get("/sdapi/v1/sd-models", {{"Authorization", "Bearer s3cret"}})->status == 200);
        CHECK(c->Get("/sdapi/v1/sd-models", {{"X-API-Key", "s3cret"}})->status == 200);
        const auto page = c->Get("/", {{"Cookie", "sdref_key=s3cret"}});
        CHECK(page->status == 200);
        CHECK(page->body.find("<title>sdref</title>") != std::string::npos);
        CHECK(c->Get("/")->body.find("API key") != std::string::npos);
    }
    o.api_key.clear();
    o.api_auth = "alice:wonder,bob:builder";
    const TestServer s(demo_model(), o);
    const auto c = s.client();
    const auto none = c->Get("/sdapi/v1/options");
    CHECK(none->status == 401);
    CHECK(none->get_header_value("WWW-Authenticate").find("Basic") != std::string::npos);
    c->set_basic_auth("bob", "builder");
    CHECK(c->Get("/sdapi/v1/options")->status == 200);
    c->set_basic_auth("bob", "wonder");
    CHECK(c->Get("/sdapi/v1/options")->status == 401);
}

TEST_CASE("sdref serve: progress with a live preview while a generation runs, interrupt stops it", "[server]") {
    const TestServer s(demo_model());
    json result;
    std::thread long_run([&] { result = post(s, "/sdapi/v1/txt2img", {{"prompt", "a star"}, {"steps", 1000}, {"seed", 1}}); });
    json p;
    for (int i = 0; i < 600; ++i) {
        p = get(s, "/sdapi/v1/progress");
        if (p["state"]["sampling_step"].get<int>() >= 3 && !p["current_image"].is_null()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(p["progress"].get<double>() > 0);
    CHECK(p["progress"].get<double>() < 1);
    CHECK(p["state"]["sampling_steps"] == 1000);
    REQUIRE(p["current_image"].is_string());
    const Image preview = decode_b64(p["current_image"]);
    CHECK(preview.width == 8);  // one pixel per latent pixel of the 64x64 demo image
    post(s, "/sdapi/v1/interrupt", json::object());
    long_run.join();
    CHECK(result["images"].empty());
    CHECK(json::parse(result["info"].get<std::string>())["interrupted"] == true);
    // the next request runs normally
    CHECK(post(s, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"steps", 2}})["images"].size() == 1);
}

// The preview's mean absolute error against the decoded picture averaged over 8x8 blocks (0..255).
double preview_error(const LatentPreview& preview, const GenerationResult& g) {
    const Image small = preview.render(g.latents), full = tensor_to_image(g.image);
    double err = 0;
    for (int y = 0; y < small.height; ++y)
        for (int x = 0; x < small.width; ++x)
            for (int c = 0; c < 3; ++c) {
                double mean = 0;
                for (int dy = 0; dy < 8; ++dy)
                    for (int dx = 0; dx < 8; ++dx) mean += full.pixels[size_t(((y * 8 + dy) * full.width + x * 8 + dx) * 3 + c)];
                err += std::fabs(mean / 64 - small.pixels[size_t((y * small.width + x) * 3 + c)]);
            }
    return err / double(small.width * small.height * 3);
}

TEST_CASE("sdref serve: the live preview's colours follow the decoded picture", "[server]") {
    const StableDiffusionModel model = StableDiffusionModel::load(demo_model());
    GenerationParams p;
    p.prompt = "a yellow star on a green background";
    p.width = p.height = 64;
    auto scheduler = make_scheduler("euler_a", "discrete", model.denoiser().info().scheduler);
    const GenerationResult g = generate(model, p, *scheduler, 10);
    // refitted to a finished picture (as the server does after each one), the map reproduces its colours
    const double refit = preview_error(LatentPreview::fit(g.latents, g.image), g);
    // the first fit, from the VAE encoding colour patches, is rough: it only has to give colours before any
    // picture was made (measured 60 of 255 on the demo model)
    const double rough = preview_error(LatentPreview::fit(model), g);
    INFO("preview error: refitted " << refit << ", from the VAE " << rough << " (of 255)");
    CHECK(refit < 10);
    CHECK(rough < 80);
}

TEST_CASE("sdref serve: img2img with a mask, inpainting_fill and inpainting_mask_invert change the picture", "[server]") {
    const TestServer s(demo_model());
    const json first = post(s, "/sdapi/v1/txt2img", {{"prompt", "a blue square"}, {"steps", 4}, {"seed", 5}});
    Image mask{64, 64, 1, std::vector<uint8_t>(64 * 64, 0)};
    for (int y = 16; y < 48; ++y)
        for (int x = 16; x < 48; ++x) mask.pixels[size_t(y * 64 + x)] = 255;
    const std::string mask_b64 = base64_encode(encode_png(mask));
    std::vector<std::vector<uint8_t>> results;
    for (int fill = 0; fill < 4; ++fill) {
        const json r = post(s, "/sdapi/v1/img2img", {{"prompt", "a red circle"}, {"steps", 6}, {"seed", 2}, {"init_images", {first["images"][0]}},
                                                      {"mask", "data:image/png;base64," + mask_b64}, {"inpainting_fill", fill},
                                                      {"denoising_strength", 0.8}});
        const Image img = decode_b64(r["images"][0]);
        CHECK(parameters_of(r["images"][0]).find("Denoising strength: 0.8") != std::string::npos);
        results.push_back(img.pixels);
    }
    for (int a = 0; a < 4; ++a)
        for (int b = a + 1; b < 4; ++b) CHECK(results[size_t(a)] != results[size_t(b)]);
    const json inverted = post(s, "/sdapi/v1/img2img", {{"prompt", "a red circle"}, {"steps", 6}, {"seed", 2}, {"init_images", {first["images"][0]}},
                                                         {"mask", mask_b64}, {"inpainting_mask_invert", 1}, {"denoising_strength", 0.8}});
    CHECK(decode_b64(inverted["images"][0]).pixels != results[1]);
    // the border of the original-fill result (8 pixels, one latent pixel, or more from the mask) stays much closer
    // to the init image than the border of the same img2img without a mask: the masked generation restores it (not
    // exactly: the VAE's GroupNorm and mid-block attention see the whole picture, the new square included)
    const Image init = decode_b64(first["images"][0]);
    const json unmasked = post(s, "/sdapi/v1/img2img", {{"prompt", "a red circle"}, {"steps", 6}, {"seed", 2}, {"init_images", {first["images"][0]}},
                                                         {"denoising_strength", 0.8}});
    const std::vector<uint8_t> free_pixels = decode_b64(unmasked["images"][0]).pixels;
    const auto border_difference = [&](const std::vector<uint8_t>& pixels) {
        double sum = 0, n = 0;
        for (size_t i = 0; i < init.pixels.size(); ++i) {
            const int x = int(i / 3 % 64), y = int(i / 3 / 64);
            if (x < 8 || x >= 56 || y < 8 || y >= 56) sum += std::fabs(double(init.pixels[i]) - double(pixels[i])), ++n;
        }
        return sum / n;
    };
    INFO("mean border difference from the init image: masked " << border_difference(results[1]) << ", unmasked "
                                                              << border_difference(free_pixels));
    CHECK(border_difference(results[1]) < 0.6 * border_difference(free_pixels));
    post(s, "/sdapi/v1/img2img", {{"prompt", "x"}}, 422);  // no init image
}

TEST_CASE("sdref serve: a ControlNet unit in alwayson_scripts draws what --control-net draws", "[server][controlnet][golden]") {
    const SafetensorsFile g(test::golden_v2_path("pipe_controlnet_ddim.safetensors"));
    const Json c = Json::parse(g.meta("call"), "call");
    const Image control = test::image_from_u8(g.load_f32("control_image_u8"));
    const int64_t H = control.height, W = control.width;
    const std::string dir = test::scratch_dir("server-controlnet");
    write_png(dir + "/control.png", control);
    Folders f;
    f.controlnets = test::golden_v2_dir();
    const TestServer s(test::golden_path("tiny-sd1.safetensors"), TestServer::defaults(), f);
    CHECK(get(s, "/controlnet/model_list")["model_list"].size() >= 2);
    const json unit = {{"model", "tiny-controlnet-diffusers [abcd1234]"}, {"image", base64_encode(encode_png(control))},
                       {"weight", c.at("controlnet_conditioning_scale").as_number()}, {"module", "none"}};
    const json body = {{"prompt", c.at("prompt").as_string()}, {"negative_prompt", c.at("negative_prompt").as_string()},
                       {"width", c.at("width").as_int()}, {"height", c.at("height").as_int()},
                       {"steps", c.at("num_inference_steps").as_int()}, {"cfg_scale", c.at("guidance_scale").as_number()},
                       {"seed", c.at("seed").as_int()}, {"sampler_name", "DDIM"},
                       {"alwayson_scripts", {{"controlnet", {{"args", {unit}}}}}}};
    const json r = post(s, "/sdapi/v1/txt2img", body);
    const test::Run cli = test::run("-m " + test::quote(test::golden_path("tiny-sd1.safetensors")) + " -p " + test::quote(c.at("prompt").as_string()) +
                                    " -n " + test::quote(c.at("negative_prompt").as_string()) + " -W " + std::to_string(W) + " -H " +
                                    std::to_string(H) + " --steps " + std::to_string(c.at("num_inference_steps").as_int()) + " --cfg-scale " +
                                    cat(c.at("guidance_scale").as_number()) + " -s " + std::to_string(c.at("seed").as_int()) +
                                    " --sampling-method ddim --control-net " + test::quote(test::golden_v2_path("tiny-controlnet-diffusers")) +
                                    " --control-image " + test::quote(dir + "/control.png") + " --control-strength " +
                                    cat(c.at("controlnet_conditioning_scale").as_number()) + " -o " + test::quote(dir + "/cli.png"));
    INFO(cli.output);
    REQUIRE(cli.status == 0);
    CHECK(decode_b64(r["images"][0]).pixels == read_image(dir + "/cli.png", 3).pixels);
    // a disabled unit changes nothing; an unknown preprocessor is refused
    json off = body;
    off["alwayson_scripts"]["controlnet"]["args"][0]["enabled"] = false;
    CHECK(decode_b64(post(s, "/sdapi/v1/txt2img", off)["images"][0]).pixels != decode_b64(r["images"][0]).pixels);
    json bad = body;
    bad["alwayson_scripts"]["controlnet"]["args"][0]["module"] = "openpose_full";
    CHECK(post(s, "/sdapi/v1/txt2img", bad, 422)["field"] == "alwayson_scripts.controlnet.args[0].module");
}

// 50 clients at once on loopback: every request is answered with its own image, none is lost, the server
// stays up. Bounded: each request is 2 steps of the demo model (about 8 s for all 50 on 2 idle cores), the clients
// time out after 300 s.
TEST_CASE("sdref serve under load: 50 concurrent requests, all answered", "[server][load]") {
    const TestServer s(demo_model());
    constexpr int kClients = 50;
    std::vector<int> status(kClients, 0);
    std::vector<int64_t> seeds(kClients, -1);
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i)
        clients.emplace_back([&, i] {
            const auto c = s.client();
            c->set_read_timeout(300, 0);
            const auto r = c->Post("/sdapi/v1/txt2img", json({{"prompt", "a shape"}, {"steps", 2}, {"seed", 1000 + i}}).dump(), "application/json");
            if (!r) {
                status[size_t(i)] = -int(r.error());
                return;
            }
            status[size_t(i)] = r->status;
            if (r->status == 200) seeds[size_t(i)] = json::parse(json::parse(r->body)["info"].get<std::string>())["all_seeds"][0].get<int64_t>();
        });
    for (std::thread& t : clients) t.join();
    for (int i = 0; i < kClients; ++i) {
        INFO("client " << i);
        CHECK(status[size_t(i)] == 200);
        CHECK(seeds[size_t(i)] == 1000 + i);
    }
    CHECK(get(s, "/sdapi/v1/progress")["state"]["job_count"] == 0);
}

TEST_CASE("sdref serve: /sdapi/v1/extra-single-image upscales with a network of --upscaler-dir, as the command does", "[server][upscaler]") {
    // the folder holds the first network of set v4's Real-ESRGAN cases
    const SafetensorsFile g(test::golden_v4_path("realesrgan.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "cases");
    const std::string file = test::golden_v4_path(cases.members().begin()->second.at("files").items().back().as_string());
    const std::string dir = test::scratch_dir("upscalers"), name = std::filesystem::path(file).stem().string();
    std::filesystem::copy_file(file, dir + "/" + std::filesystem::path(file).filename().string(), std::filesystem::copy_options::overwrite_existing);
    Folders folders;
    folders.upscalers = dir;
    const TestServer s(demo_model(), {}, folders);
    const json listed = get(s, "/sdapi/v1/upscalers");
    CHECK(std::any_of(listed.begin(), listed.end(), [&](const json& u) { return u["name"] == name; }));
    const json gen = post(s, "/sdapi/v1/txt2img", {{"prompt", "a star"}, {"steps", 3}, {"seed", 5}});
    const std::string picture = gen["images"][0];
    const json r = post(s, "/sdapi/v1/extra-single-image", {{"image", picture}, {"upscaler_1", name}, {"upscaling_resize", 2}});
    const Image got = decode_b64(r["image"]), want = upscale_by(Upscaler::load(file), decode_b64(picture), 2);
    CHECK(got.width == 128);
    CHECK(got.pixels == want.pixels);
    CHECK_THAT(parameters_of(r["image"]), Catch::Contains("Postprocess upscaler: " + name));
    CHECK_THAT(r["html_info"].get<std::string>(), Catch::StartsWith(parameters_of(picture)));
    // to a size (resize_mode 1)
    const json sized = post(s, "/sdapi/v1/extra-single-image",
                            {{"image", picture}, {"upscaler_1", name}, {"resize_mode", 1}, {"upscaling_resize_w", 96}, {"upscaling_resize_h", 80}});
    CHECK(decode_b64(sized["image"]).width == 96);
    CHECK(decode_b64(sized["image"]).height == 80);
    // bad requests: 4xx naming the field
    post(s, "/sdapi/v1/extra-single-image", {{"upscaler_1", name}}, 422);
    post(s, "/sdapi/v1/extra-single-image", {{"image", "not base64!"}, {"upscaler_1", name}}, 422);
    const json missing = post(s, "/sdapi/v1/extra-single-image", {{"image", picture}, {"upscaler_1", "nothing-here"}}, 422);
    CHECK_THAT(missing.dump(), Catch::Contains("upscaler_1"));
    post(s, "/sdapi/v1/extra-single-image", {{"image", picture}, {"upscaler_1", name}, {"upscaling_resize", 100}}, 422);
    post(s, "/sdapi/v1/extra-single-image", {{"image", picture}, {"upscaler_1", name}, {"gfpgan_visibility", 0.5}}, 422);
    post(s, "/sdapi/v1/extra-single-image", {{"image", picture}, {"upscaler_1", "../../etc/passwd"}}, 422);
    // the hires fix names the same network through hr_upscaler
    const json hires = post(s, "/sdapi/v1/txt2img", {{"prompt", "a star"}, {"steps", 2}, {"enable_hr", true}, {"hr_scale", 2}, {"hr_upscaler", name}});
    CHECK(decode_b64(hires["images"][0]).width == 128);
}

TEST_CASE("sdref serve: POST /sdref/v1/animate makes the command's frames and an animated WebP", "[server][animation]") {
    const TestServer s(demo_model());
    const json body = {{"prompt", "a red circle on a blue background"}, {"steps", 4}, {"seed", 3}, {"width", 64}, {"height", 64},
                       {"animation", {{"frames", 2}, {"zoom", "0:(1.1)"}, {"angle", "0:(5)"}, {"strength_schedule", "0:(0.5)"}, {"fps", 4}}}};
    const json r = post(s, "/sdref/v1/animate", body);
    REQUIRE(r["frames"].size() == 2);
    CHECK(r["interrupted"] == false);
    const std::vector<uint8_t> webp = base64_decode(r["webp"].get<std::string>(), "webp");
    CHECK(std::string(webp.begin(), webp.begin() + 4) == "RIFF");
    CHECK_THAT(r["infotexts"][1].get<std::string>(), Catch::Contains("Animation frame: 1/2") && Catch::Contains("Zoom: 1.1"));
    // the command draws the same frames for the same settings (the API's defaults written out: Euler, CFG 7)
    const std::string dir = test::scratch_dir("animate-api");
    REQUIRE(test::run("animate -m " + test::quote(demo_model()) + " -p 'a red circle on a blue background' --steps 4 -s 3 -W 64 -H 64 "
                      "--sampling-method euler --cfg-scale 7 --frames 2 --zoom '0:(1.1)' --angle '0:(5)' --strength-schedule '0:(0.5)' -o " +
                      test::quote(dir)).status == 0);
    CHECK(decode_b64(r["frames"][1]).pixels == read_image(dir + "/frame_0001.png", 3).pixels);
    // bad settings: 422 naming them
    json bad = body;
    bad["animation"]["zoom"] = "0:(1.1 +";
    CHECK_THAT(post(s, "/sdref/v1/animate", bad, 422).dump(), Catch::Contains("animation.zoom"));
    bad = body;
    bad["animation"]["frames"] = 100000;
    post(s, "/sdref/v1/animate", bad, 422);
    bad = body;
    bad["animation"] = "zoom";
    post(s, "/sdref/v1/animate", bad, 422);
}
