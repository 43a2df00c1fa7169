// sdref [options]: generate images. Flag names follow stable-diffusion.cpp where the concept is the same.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <tuple>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/sha256.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "pipeline/generate.h"
#include "models/controlnet.h"
#include "pipeline/canny.h"
#include "pipeline/outpaint.h"
#include "text/extra_networks.h"
#include "safety/safety_checker.h"

namespace sdref::cli {

namespace {

// The ranges of the numeric flags (a value outside is an error naming the flag and its range). Sizes must also
// be multiples of 8; --clip-skip is checked against the model's layers once it is loaded.
constexpr long long kMinSide = 8, kMaxSide = kMaxImageSide, kMaxSteps = 1000, kMaxBatch = 10000, kMaxClipSkip = 48, kMaxThreads = 1024;
constexpr long long kMaxMicroSize = 16384;  // SDXL's original/target sizes and crops may exceed the image
constexpr double kMaxCfg = 100;

const char* kUsage =
    "usage: sdref [-m MODEL] -p PROMPT [options]\n"
    "  -m, --model PATH          a checkpoint in the original layout (.safetensors, or .ckpt read without\n"
    "                            running its code) or a diffusers folder\n"
    "                            (default: the TinyShapes demo model installed beside sdref)\n"
    "  -p, --prompt TEXT         what to draw\n"
    "  -n, --negative-prompt T   what to avoid (used when --cfg-scale > 1)\n"
    "  -o, --output FILE         PNG to write (default output.png; batches add _1, _2, ...)\n"
    "  -W, --width N, -H, --height N   image size, multiples of 8 (default: the model's, from its\n"
    "                            modelspec.resolution metadata, else 512x512)\n"
    "  --steps N                 sampling steps (default 20)\n"
    "  --cfg-scale X             classifier-free guidance scale (default 7.0; 1 = one U-Net call per step)\n"
    "  --sampling-method NAME    ddim, pndm, lms, euler, euler_a (default), heun, dpm2, dpm2_a, dpm++2m,\n"
    "                            dpm++2m_sde, dpm++2s, unipc, deis, lcm\n"
    "  --scheduler NAME          discrete (the sampler's own spacing, default), karras, trailing\n"
    "  -s, --seed N              PyTorch-compatible seed (default 42; -1 picks one and reports it)\n"
    "  -b, --batch-count N       images to make, seeds N, N+1, ... (default 1)\n"
    "  -i, --init-img FILE       img2img / inpainting start image (same size as -W x -H)\n"
    "  --mask FILE               inpainting mask, white = repaint (same size as the image)\n"
    "  --strength X              img2img / inpainting: share of the schedule to run (default 0.75)\n"
    "  --outpaint L,T,R,B        extend -i's image by these pixels and paint the new border\n"
    "  --clip-skip N             text encoder layer counted from the end (A1111 numbering; default: model's)\n"
    "  --prediction-type T       epsilon or v_prediction, when the checkpoint does not say\n"
    "  --use-ema                 a training checkpoint's EMA weights (model_ema.*) instead of the trained ones\n"
    "  --lora FILE[:WEIGHT]      merge a LoRA (kohya, LoCon, diffusers/PEFT names; repeatable; weight 1 by default)\n"
    "  --lora-model-dir DIR      where <lora:NAME:WEIGHT> tags in the prompt find NAME.safetensors (or .ckpt/.pt)\n"
    "  --vae PATH                a separate VAE (.safetensors/.ckpt in the original or diffusers names, or a\n"
    "                            diffusers vae/ folder) instead of the checkpoint's\n"
    "  --control-net PATH        a ControlNet (original or diffusers layout, .safetensors/.pth, or a folder);\n"
    "                            repeatable: the --control-* flags after one apply to it\n"
    "  --control-image FILE      its control image (edges, pose, depth...), the generation's size\n"
    "  --control-strength X      its residuals' scale (default 0.9)\n"
    "  --control-start X, --control-end X   the part of the schedule it guides (default 0 and 1)\n"
    "  --canny                   turn its control image into Canny edges first (a photo for a canny ControlNet)\n"
    "  --canny-low X, --canny-high X   the edge thresholds (default 100 and 200, as A1111)\n"
    "  --hypernetwork-dir DIR    where <hypernet:NAME:STRENGTH> tags in the prompt find NAME.pt\n"
    "  --embd-dir DIR            textual-inversion embeddings: NAME.pt / NAME.safetensors is used where the prompt\n"
    "                            or the negative prompt says NAME\n"
    "  --original-size W,H       SDXL micro-conditioning: the size the picture is meant to have come from\n"
    "                            (default: the image size)\n"
    "  --crop-top-left X,Y       SDXL micro-conditioning: where a crop from it started (default 0,0)\n"
    "  --target-size W,H         SDXL micro-conditioning: the size asked for (default: the image size)\n"
    "  --aesthetic-score X, --negative-aesthetic-score X\n"
    "                            SDXL refiner: the score to aim for and to steer away from (default 6.0, 2.5)\n"
    "  --refiner PATH            an SDXL refiner that takes over the last part of the schedule\n"
    "  --refiner-start X         the share of the schedule the base model runs first (default 0.8)\n"
    "  --save-latents FILE       also write the final latents [1, 4, H/8, W/8] as safetensors\n"
    "  --sld PRESET              Safe Latent Diffusion: weak, medium, strong or max\n"
    "  --sld-guidance-scale X, --sld-warmup-steps N, --sld-threshold X, --sld-momentum-scale X, --sld-mom-beta X\n"
    "                            Safe Latent Diffusion settings (any of them turns it on; the rest from medium)\n"
    "  --sld-concept TEXT        the concept to steer away from (default: diffusers' safety concept)\n"
    "  --safety-checker PATH     check images with the SD safety checker (a safety_checker/ folder or .safetensors);\n"
    "                            a model folder's own safety_checker/ is used unless --no-safety-checker\n"
    "  --no-safety-checker       do not check images\n"
    "  -t, --threads N           CPU threads (default: all)\n"
    "  --low-memory              keep one U-Net block's weights in memory at a time and decode the VAE in\n"
    "                            overlapping tiles (slower; about a third of the memory)\n"
    "  -v, --verbose             timings per stage and step; tensors the checkpoint has but the models do not use\n";

// A1111's name for a sampler, for the PNG parameters other tools read.
std::string a1111_sampler(const std::string& method, const std::string& schedule) {
    static const std::pair<const char*, const char*> names[] = {
        {"ddim", "DDIM"},       {"pndm", "PLMS"},   {"lms", "LMS"},        {"euler", "Euler"},
        {"euler_a", "Euler a"}, {"heun", "Heun"},   {"dpm2", "DPM2"},      {"dpm2_a", "DPM2 a"},
        {"dpm++2m", "DPM++ 2M"}, {"dpm++2m_sde", "DPM++ 2M SDE"}, {"dpm++2s", "DPM++ 2S"}, {"unipc", "UniPC"},
        {"deis", "DEIS"},       {"lcm", "LCM"}};
    std::string name = method;
    for (const auto& [m, a] : names)
        if (method == m) name = a;
    return schedule == "karras" ? name + " Karras" : name;
}

std::string numbered(const std::string& path, int index) {
    if (index == 0) return path;
    const size_t dot = path.rfind('.');
    const size_t slash = path.rfind('/');
    const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
    return has_ext ? path.substr(0, dot) + "_" + std::to_string(index) + path.substr(dot) : path + "_" + std::to_string(index);
}

std::string basename(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const size_t slash = p.rfind('/');
    std::string b = slash == std::string::npos ? p : p.substr(slash + 1);
    for (const char* ext : {".safetensors", ".ckpt", ".pt", ".pth", ".bin"})
        if (b.size() > std::strlen(ext) && b.compare(b.size() - std::strlen(ext), std::string::npos, ext) == 0)
            return b.substr(0, b.size() - std::strlen(ext));
    return b;
}

// "FILE[:WEIGHT]" -> the file and its weight (1 when no number follows the last colon).
LoraSpec parse_lora(const std::string& text) {
    LoraSpec spec{text, 1.0f};
    const size_t colon = text.rfind(':');
    if (colon != std::string::npos && colon + 1 < text.size()) {
        char* end = nullptr;
        const float w = std::strtof(text.c_str() + colon + 1, &end);
        if (*end == '\0' && std::isfinite(w)) spec = {text.substr(0, colon), w};
    }
    if (spec.path.empty()) fail("--lora: \"", text, "\" names no file");
    return spec;
}

// The file a prompt tag names: DIR/NAME with the first extension that exists.
std::string find_addon(const std::string& dir, const ExtraNetwork& tag, const char* flag) {
    if (dir.empty()) fail("prompt: <", tag.kind, ":", tag.name, "> needs ", flag, " DIR to find ", tag.name, ".safetensors in");
    for (const char* ext : {".safetensors", ".ckpt", ".pt", ".pth", ".bin"})
        if (path_exists(dir + "/" + tag.name + ext)) return dir + "/" + tag.name + ext;
    fail("prompt: <", tag.kind, ":", tag.name, ">: no ", tag.name, ".safetensors, .ckpt, .pt, .pth or .bin in ", dir, " (", flag, ")");
}

// The add-ons in A1111's words (PNG Info and civitai read them): VAE, Lora hashes, TI hashes, Hypernet. A1111
// hashes a LoRA's .safetensors after its header ("addnet" hash), every other file whole.
std::string addon_parameters(const CheckpointOverrides& o) {
    std::string out;
    if (!o.vae.empty() && !std::filesystem::is_directory(o.vae))
        out += ", VAE hash: " + file_sha256(o.vae).substr(0, 10) + ", VAE: " + std::filesystem::path(o.vae).filename().string();
    auto hashes = [](const std::vector<std::string>& files, bool addnet) {
        std::string list;
        for (const std::string& f : files)
            list += (list.empty() ? "" : ", ") + basename(f) + ": " + (addnet ? addon_sha256(f) : file_sha256(f)).substr(0, 12);
        return "\"" + list + "\"";
    };
    std::vector<std::string> loras, embeddings = o.embeddings;
    for (const LoraSpec& l : o.loras)
        if (std::find(loras.begin(), loras.end(), l.path) == loras.end()) loras.push_back(l.path);
    if (!loras.empty()) out += ", Lora hashes: " + hashes(loras, true);
    if (!embeddings.empty()) out += ", TI hashes: " + hashes(embeddings, false);
    if (!o.hypernetworks.empty()) {
        const auto& [file, strength] = o.hypernetworks.front();
        out += ", Hypernet: " + basename(file) + ", Hypernet hash: " + file_sha256(file).substr(0, 10) + ", Hypernet strength: " + cat(strength);
    }
    return out;
}

// The embedding files of `dir` whose names (file names without extension) the prompts mention; one per name,
// .safetensors before .pt before .bin.
std::vector<std::string> embeddings_named_in(const std::string& dir, const std::vector<std::string>& prompts) {
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) fail("--embd-dir: cannot read the folder ", dir, " (", ec.message(), ")");
    const std::vector<std::string> preference = {".safetensors", ".pt", ".bin"};
    std::map<std::string, std::string> by_name;  // name -> file
    for (const auto& e : it) {
        const std::string ext = e.path().extension().string(), stem = e.path().stem().string();
        const auto rank = std::find(preference.begin(), preference.end(), ext);
        if (!e.is_regular_file() || rank == preference.end() || stem.empty()) continue;
        if (std::none_of(prompts.begin(), prompts.end(), [&](const std::string& p) { return p.find(stem) != std::string::npos; })) continue;
        std::string& chosen = by_name[stem];
        if (chosen.empty() || rank < std::find(preference.begin(), preference.end(), std::filesystem::path(chosen).extension().string()))
            chosen = e.path().string();
    }
    std::vector<std::string> files;
    for (const auto& [name, file] : by_name) files.push_back(file);
    return files;
}

// "A,B" -> two integers in [lo, hi], or an error naming the flag.
std::pair<int64_t, int64_t> parse_pair(const std::string& flag, const std::string& text, long long lo, long long hi) {
    long long a = 0, b = 0;
    char comma = 0, rest = 0;
    if (std::sscanf(text.c_str(), "%lld%c%lld%c", &a, &comma, &b, &rest) != 3 || comma != ',' || a < lo || b < lo || a > hi || b > hi)
        fail(flag, ": \"", text, "\" is not two whole numbers A,B from ", lo, " to ", hi);
    return {a, b};
}

}  // namespace

int cmd_generate(int argc, char** argv) {
    Args args(argc, argv, 1);
    std::string model_path, output = "output.png", method = "euler_a", schedule = "discrete", init_path, mask_path,
                latents_path, outpaint_text, prediction_type, refiner_path, lora_dir, embd_dir, hypernetwork_dir, vae_path;
    std::vector<LoraSpec> loras;
    struct ControlFlags {
        std::string net, image;
        float strength = 0.9f, start = 0.0f, end = 1.0f;
        bool canny = false;
        float canny_low = 100.0f, canny_high = 200.0f;
    };
    std::vector<ControlFlags> control_flags;
    auto last_control = [&](const std::string& flag) -> ControlFlags& {
        if (control_flags.empty()) fail(flag, " needs a --control-net before it");
        return control_flags.back();
    };
    GenerationParams p;
    p.width = p.height = 0;  // 0: the model's default size (its metadata, else the family's)
    int steps = 20, batch = 1;
    long long seed = 42;
    bool verbose = false, have_prompt = false, strength_given = false, no_safety_checker = false, size_given = false,
         refiner_given_start = false, use_ema = false;
    std::string safety_path;
    auto sld_on = [&]() {
        if (!p.sld.enabled) p.sld = SafeLatentDiffusion::preset("medium");
    };
    while (!args.done()) {
        const std::string a = args.next();
        if (a == "-m" || a == "--model") model_path = args.value(a);
        else if (a == "-p" || a == "--prompt") p.prompt = args.value(a), have_prompt = true;
        else if (a == "-n" || a == "--negative-prompt") p.negative_prompt = args.value(a);
        else if (a == "-o" || a == "--output") output = args.value(a);
        else if (a == "-W" || a == "--width") p.width = args.int_value(a, kMinSide, kMaxSide), size_given = true;
        else if (a == "-H" || a == "--height") p.height = args.int_value(a, kMinSide, kMaxSide), size_given = true;
        else if (a == "--steps") steps = int(args.int_value(a, 1, kMaxSteps));
        else if (a == "--cfg-scale") p.cfg_scale = float(args.number_value(a, 0, kMaxCfg));
        else if (a == "--sampling-method") method = args.value(a);
        else if (a == "--scheduler") schedule = args.value(a);
        else if (a == "-s" || a == "--seed") seed = args.int_value(a, -1, std::numeric_limits<long long>::max());
        else if (a == "-b" || a == "--batch-count") batch = int(args.int_value(a, 1, kMaxBatch));
        else if (a == "-i" || a == "--init-img") init_path = args.value(a);
        else if (a == "--mask") mask_path = args.value(a);
        else if (a == "--strength") p.strength = float(args.number_value(a, 0, 1, /*lo_open=*/true)), strength_given = true;
        else if (a == "--outpaint") outpaint_text = args.value(a);
        else if (a == "--clip-skip") p.clip_skip = int(args.int_value(a, 1, kMaxClipSkip));
        else if (a == "--prediction-type") prediction_type = args.value(a);
        else if (a == "--use-ema") use_ema = true;
        else if (a == "--lora") loras.push_back(parse_lora(args.value(a)));
        else if (a == "--lora-model-dir") lora_dir = args.value(a);
        else if (a == "--embd-dir") embd_dir = args.value(a);
        else if (a == "--vae") vae_path = args.value(a);
        else if (a == "--control-net") control_flags.push_back({args.value(a), "", 0.9f, 0.0f, 1.0f, false, 100.0f, 200.0f});
        else if (a == "--control-image") last_control(a).image = args.value(a);
        else if (a == "--control-strength") last_control(a).strength = float(args.number_value(a, 0, 10));
        else if (a == "--control-start") last_control(a).start = float(args.number_value(a, 0, 1));
        else if (a == "--control-end") last_control(a).end = float(args.number_value(a, 0, 1));
        else if (a == "--canny") last_control(a).canny = true;
        else if (a == "--canny-low") last_control(a).canny_low = float(args.number_value(a, 0, 2040));
        else if (a == "--canny-high") last_control(a).canny_high = float(args.number_value(a, 0, 2040));
        else if (a == "--hypernetwork-dir") hypernetwork_dir = args.value(a);
        else if (a == "--original-size")
            std::tie(p.micro.original_width, p.micro.original_height) = parse_pair(a, args.value(a), kMinSide, kMaxMicroSize);
        else if (a == "--crop-top-left") std::tie(p.micro.crop_left, p.micro.crop_top) = parse_pair(a, args.value(a), 0, kMaxMicroSize);
        else if (a == "--target-size")
            std::tie(p.micro.target_width, p.micro.target_height) = parse_pair(a, args.value(a), kMinSide, kMaxMicroSize);
        else if (a == "--aesthetic-score") p.micro.aesthetic_score = float(args.number_value(a, 0, 10));
        else if (a == "--negative-aesthetic-score") p.micro.negative_aesthetic_score = float(args.number_value(a, 0, 10));
        else if (a == "--refiner") refiner_path = args.value(a);
        else if (a == "--refiner-start") p.refiner_start = float(args.number_value(a, 0, 1, /*lo_open=*/true)), refiner_given_start = true;
        else if (a == "--save-latents") latents_path = args.value(a);
        else if (a == "-t" || a == "--threads") kernels::set_num_threads(int(args.int_value(a, 1, kMaxThreads)));
        else if (a == "--sld") {
            const std::string concept = p.sld.concept;
            p.sld = SafeLatentDiffusion::preset(args.value(a));
            p.sld.concept = concept;
        } else if (a == "--sld-guidance-scale") sld_on(), p.sld.guidance_scale = float(args.number_value(a, 0, 1e5));
        else if (a == "--sld-warmup-steps") sld_on(), p.sld.warmup_steps = int(args.int_value(a, 0, kMaxSteps));
        else if (a == "--sld-threshold") sld_on(), p.sld.threshold = float(args.number_value(a, -1, 1));
        else if (a == "--sld-momentum-scale") sld_on(), p.sld.momentum_scale = float(args.number_value(a, 0, 100));
        else if (a == "--sld-mom-beta") sld_on(), p.sld.mom_beta = float(args.number_value(a, 0, 1));
        else if (a == "--sld-concept") p.sld.concept = args.value(a);
        else if (a == "--safety-checker") safety_path = args.value(a);
        else if (a == "--no-safety-checker") no_safety_checker = true;
        else if (a == "--low-memory") p.low_memory = true, return_freed_memory_at_once();
        else if (a == "-v" || a == "--verbose") verbose = true;
        else if (a == "-h" || a == "--help") {
            std::printf("%s", kUsage);
            return 0;
        } else fail("unknown option \"", a, "\" (see sdref --help)");
    }
    if (!have_prompt) fail("-p/--prompt: no prompt given");
    // <lora:NAME:WEIGHT> and <hypernet:NAME:STRENGTH> tags name add-ons; the prompt is encoded without them
    const std::string prompt_as_given = p.prompt;
    std::vector<std::pair<std::string, float>> hypernetworks;
    for (const ExtraNetwork& tag : take_extra_networks(&p.prompt)) {
        if (tag.kind == "lora") loras.push_back({find_addon(lora_dir, tag, "--lora-model-dir"), tag.weight});
        else hypernetworks.emplace_back(find_addon(hypernetwork_dir, tag, "--hypernetwork-dir"), tag.weight);
    }
    for (const LoraSpec& l : loras)
        if (!path_exists(l.path)) fail("--lora: no such file: ", l.path);
    if (!mask_path.empty() && init_path.empty()) fail("--mask needs an init image (-i)");
    if (!outpaint_text.empty() && init_path.empty()) fail("--outpaint needs an image to extend (-i)");
    if (refiner_given_start && refiner_path.empty()) fail("--refiner-start needs --refiner");
    if (seed < 0) seed = (long long)(std::random_device{}() & 0x7fffffff);

    // inputs: everything that can fail is read before the model is loaded and before any output is written
    Image init, mask;
    OutpaintMargins margins;
    Image original;
    if (!init_path.empty()) init = read_image(init_path, 3);
    std::vector<Image> control_images;
    for (const ControlFlags& c : control_flags) {
        if (c.image.empty()) fail("--control-net ", c.net, ": no --control-image given for it");
        control_images.push_back(read_image(c.image, 3));
        if (c.canny) control_images.back() = canny_edges(control_images.back(), c.canny_low, c.canny_high);
    }
    if (!mask_path.empty()) mask = read_image(mask_path, 1);
    if (!outpaint_text.empty()) {
        margins = parse_outpaint(outpaint_text);
        original = init;
        OutpaintCanvas canvas = make_outpaint_canvas(original, margins);
        init = canvas.image;
        mask = canvas.mask;
        p.width = init.width;
        p.height = init.height;
        if (!strength_given) p.strength = 1.0f;
    } else if (!init_path.empty() && !size_given) {
        // without -W/-H, img2img and inpainting work at the init image's size
        p.width = init.width;
        p.height = init.height;
    }
    if (!init_path.empty()) p.init_image = &init;
    if (!mask.pixels.empty()) {
        if (mask.width != init.width || mask.height != init.height)
            fail("--mask: the mask is ", mask.width, "x", mask.height, ", the image is ", init.width, "x", init.height);
        p.mask = &mask;
    }
    auto check_size = [&]() {
        if (p.width % 8 || p.height % 8)
            fail("-W/-H: the image size must be a positive multiple of 8, got ", p.width, "x", p.height);
    };
    check_size();

    if (model_path.empty()) model_path = default_model_path();
    const auto load_start = std::chrono::steady_clock::now();
    CheckpointOverrides overrides;
    overrides.prediction_type = prediction_type;
    overrides.use_ema = use_ema;
    overrides.loras = loras;
    overrides.hypernetworks = hypernetworks;
    overrides.vae = vae_path;
    if (!embd_dir.empty()) overrides.embeddings = embeddings_named_in(embd_dir, {p.prompt, p.negative_prompt});
    const StableDiffusionModel model = StableDiffusionModel::load(model_path, overrides);
    std::optional<StableDiffusionModel> refiner;
    if (!refiner_path.empty()) {
        refiner = StableDiffusionModel::load(refiner_path, overrides);
        p.refiner = &*refiner;
    }
    if (p.width == 0) p.width = model.info().default_width;
    if (p.height == 0) p.height = model.info().default_height;
    check_size();
    if (safety_path.empty() && !no_safety_checker) {
        if (path_exists(model_path + "/safety_checker/model.safetensors")) safety_path = model_path + "/safety_checker";
    }
    std::vector<std::unique_ptr<ControlNet>> controlnets;
    for (size_t i = 0; i < control_flags.size(); ++i) {
        const ControlFlags& f = control_flags[i];
        controlnets.push_back(std::make_unique<ControlNet>(ControlNet::load(f.net)));
        if (control_images[i].width != p.width || control_images[i].height != p.height)
            fail("--control-image ", f.image, ": the image is ", control_images[i].width, "x", control_images[i].height, ", the generation ",
                 p.width, "x", p.height, " (give a control image of the picture's size)");
        ControlSpec spec;
        spec.net = controlnets.back().get();
        spec.image = image_to_unit_tensor(control_images[i]);
        spec.strength = f.strength;
        spec.start = f.start;
        spec.end = f.end;
        p.controls.push_back(std::move(spec));
    }
    std::optional<SafetyChecker> checker;
    if (!safety_path.empty() && !no_safety_checker) checker = SafetyChecker::load(safety_path);
    if (p.sld.enabled && p.cfg_scale <= 1.0f) fail("--sld needs --cfg-scale above 1 (it steers the guided prediction)");
    // validate the sampler names before the first step
    (void)make_scheduler(method, schedule, model.info().scheduler);
    if (verbose) {
        std::fprintf(stderr, "loaded %s in %.2f s (%s, %s%s, %s)\n", model_path.c_str(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count(),
                     model.info().family_name.c_str(), model.info().inpainting ? "inpainting, " : "",
                     model.info().scheduler.prediction_type.c_str(), kernels::cpu_isa_name());
        if (!loras.empty())
            std::fprintf(stderr, "LoRAs: %d layers changed, %.1f MB of merged copies\n", model.lora_layers(), double(model.lora_bytes()) / 1e6);
        for (const std::string& u : model.unused_tensors()) std::fprintf(stderr, "unused tensor %s\n", u.c_str());
    }

    const std::string addons = addon_parameters(overrides);
    for (int b = 0; b < batch; ++b) {
        p.seed = uint64_t(seed) + uint64_t(b);
        std::unique_ptr<Scheduler> scheduler = make_scheduler(method, schedule, model.info().scheduler);
        const auto start = std::chrono::steady_clock::now();
        const GenerationResult r = generate(model, p, *scheduler, steps, [&](const StepInfo& s) {
            const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            const double per = elapsed / s.step;
            const int width = 30, done = width * s.step / s.steps;
            std::fprintf(stderr, "\r  step %d/%d |%s%s| %.2f s/it, ETA %.0f s ", s.step, s.steps, std::string(size_t(done), '#').c_str(),
                         std::string(size_t(width - done), ' ').c_str(), per, per * (s.steps - s.step));
            std::fflush(stderr);
        });
        std::fprintf(stderr, "\n");
        Image out = tensor_to_image(r.image);
        if (margins.any()) paste_original(out, original, margins);
        bool flagged = false;
        if (checker) {
            flagged = checker->check(out).has_nsfw;
            if (flagged) {
                std::fill(out.pixels.begin(), out.pixels.end(), uint8_t(0));
                std::fprintf(stderr, "safety checker: image %d flagged as NSFW and replaced by black\n", b);
            }
        }

        std::string params = prompt_as_given;
        if (!p.negative_prompt.empty()) params += "\nNegative prompt: " + p.negative_prompt;
        params += "\nSteps: " + std::to_string(steps) + ", Sampler: " + a1111_sampler(method, schedule) +
                  ", CFG scale: " + cat(p.cfg_scale) + ", Seed: " + std::to_string(p.seed) + ", Size: " + std::to_string(p.width) +
                  "x" + std::to_string(p.height) + ", Model: " + basename(model_path) + addons;
        if (p.clip_skip > 1) params += ", Clip skip: " + std::to_string(p.clip_skip);
        if (p.init_image) params += ", Denoising strength: " + cat(p.strength);
        if (p.low_memory) params += ", Tiled VAE: 320 px tiles";
        for (size_t i = 0; i < control_flags.size(); ++i)
            params += ", ControlNet " + std::to_string(i) + ": \"Model: " + basename(control_flags[i].net) + ", Weight: " +
                      cat(control_flags[i].strength) + ", Guidance Start: " + cat(control_flags[i].start) + ", Guidance End: " +
                      cat(control_flags[i].end) + "\"";
        if (refiner) params += ", Refiner: " + basename(refiner_path) + ", Refiner switch at: " + cat(p.refiner_start);
        if (p.sld.enabled)
            params += ", SLD: guidance " + cat(p.sld.guidance_scale) + " warmup " + std::to_string(p.sld.warmup_steps) +
                      " threshold " + cat(p.sld.threshold) + " momentum " + cat(p.sld.momentum_scale) + " beta " + cat(p.sld.mom_beta);
        if (checker) params += flagged ? ", Safety checker: flagged (image blacked out)" : ", Safety checker: passed";
        const std::string path = numbered(output, b);
        write_png(path, out, {{"parameters", params}});
        if (!latents_path.empty()) {
            Tensor l = r.latents;
            l.reshape({1, l.dim(0), l.dim(1), l.dim(2)});
            write_safetensors(numbered(latents_path, b), {make_record("latents", l)}, {{"parameters", params}});
        }
        std::fprintf(stderr, "wrote %s (seed %llu)\n", path.c_str(), (unsigned long long)p.seed);
        if (verbose) {
            double total = 0;
            for (double s : r.step_seconds) total += s;
            std::fprintf(stderr, "text encoder %.3f s, sampling %.3f s (%zu U-Net steps, %.3f s/step), VAE decode %.3f s, peak memory %.0f MB\n",
                         r.text_seconds, total, r.step_seconds.size(), total / double(r.step_seconds.size()), r.vae_seconds,
                         double(peak_resident_bytes()) / 1e6);
        }
    }
    return 0;
}

}  // namespace sdref::cli
