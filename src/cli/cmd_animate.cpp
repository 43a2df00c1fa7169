// sdref animate -p PROMPT --frames N -o OUTDIR: Deforum's 2D animation mode (and A1111's loopback), on the Engine.
//
//   frame 0      txt2img, or img2img of -i's picture
//   frame k > 0  the last frame warped (--zoom, --angle, --translation-x/-y about the centre: pipeline/warp.h),
//                its colours matched to frame 0's (--color-coherence lab), noised (--noise-schedule: Deforum's
//                multiplicative noise, x (1 + amount n)), then img2img with denoising strength 1 - strength
//                (--strength-schedule, Deforum's meaning: how much of the last frame stays) and CFG --cfg-schedule
// Every schedule is a keyframe string, "0:(1.0), 30:(1.04)", with expressions in t (pipeline/keyframes.h). Seeds:
// --seed-behavior iter (seed + k) or fixed. Frames go to OUTDIR/frame_0000.png ... with their parameters, then
// OUTDIR/animation.webp, and OUTDIR/animation.mp4 where an ffmpeg binary is on the PATH. Ctrl-C stops after the
// frame being drawn (which is dropped); the frames so far are kept and animated.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/engine.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "core/rng.h"
#include "pipeline/keyframes.h"
#include "pipeline/warp.h"
#include "pipeline/webp_anim.h"

extern char** environ;

namespace sdref::cli {

namespace {

struct AnimateFlags {
    std::string output, zoom, angle, translation_x, translation_y, strength, cfg, noise, seed_behavior, border, color_coherence, preview;
    int64_t frames;
    double fps;
    bool help;
};

using A = AnimateFlags;
// clang-format off
const std::vector<Param<AnimateFlags>>& animate_params() {
    static const std::vector<Param<A>> rows = {
        {"--output", "-o", nullptr, nullptr, "DIR", "animation", nullptr, 0, 0, "the folder for frame_0000.png ... and animation.webp",
         [](A& a) -> ParamRef { return &a.output; }},
        {"--frames", nullptr, nullptr, nullptr, "N", "30", nullptr, 1, 100000, "how many frames", [](A& a) -> ParamRef { return &a.frames; }},
        {"--fps", nullptr, nullptr, nullptr, "N", "12", nullptr, 0.1, 240, "frames per second of the animation files",
         [](A& a) -> ParamRef { return &a.fps; }},
        {"--zoom", nullptr, nullptr, nullptr, "SCHEDULE", "0:(1.04)", nullptr, 0, 0, "scale per frame (above 1: into the picture)",
         [](A& a) -> ParamRef { return &a.zoom; }},
        {"--angle", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0)", nullptr, 0, 0, "degrees per frame, counter-clockwise",
         [](A& a) -> ParamRef { return &a.angle; }},
        {"--translation-x", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0)", nullptr, 0, 0, "pixels per frame to the right",
         [](A& a) -> ParamRef { return &a.translation_x; }},
        {"--translation-y", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0)", nullptr, 0, 0, "pixels per frame down",
         [](A& a) -> ParamRef { return &a.translation_y; }},
        {"--strength-schedule", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0.65)", nullptr, 0, 0,
         "how much of the last frame each frame keeps (Deforum's strength: img2img's denoising is 1 - it)",
         [](A& a) -> ParamRef { return &a.strength; }},
        {"--cfg-schedule", nullptr, nullptr, nullptr, "SCHEDULE", "", nullptr, 0, 0, "CFG scale per frame (default: --cfg-scale's)",
         [](A& a) -> ParamRef { return &a.cfg; }},
        {"--noise-schedule", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0.02)", nullptr, 0, 0, "noise added to each warped frame",
         [](A& a) -> ParamRef { return &a.noise; }},
        {"--seed-behavior", nullptr, nullptr, nullptr, "NAME", "iter", nullptr, 0, 0, "iter (seed + frame) or fixed",
         [](A& a) -> ParamRef { return &a.seed_behavior; }},
        {"--border", nullptr, nullptr, nullptr, "NAME", "replicate", nullptr, 0, 0, "what the warp shows past the edges: replicate or wrap",
         [](A& a) -> ParamRef { return &a.border; }},
        {"--color-coherence", nullptr, nullptr, nullptr, "NAME", "lab", nullptr, 0, 0, "match each frame's colours to frame 0's: lab or none",
         [](A& a) -> ParamRef { return &a.color_coherence; }},
        {"--preview", nullptr, nullptr, nullptr, "FILE", "", nullptr, 0, 0, "the latest frame, written after each",
         [](A& a) -> ParamRef { return &a.preview; }},
        {"--help", "-h", nullptr, nullptr, "", "false", nullptr, 0, 0, "this help", [](A& a) -> ParamRef { return &a.help; }},
    };
    return rows;
}
// clang-format on

std::atomic<bool> interrupted{false};

// x (1 + amount n) per value, n standard normal from the frame's seed (Deforum's add_noise), back to 8 bits
Image add_noise(const Image& in, double amount, uint64_t seed) {
    if (amount == 0) return in;
    std::vector<float> n(in.pixels.size());
    TorchGenerator(seed).randn(n.data(), n.size());
    Image out = in;
    for (size_t i = 0; i < n.size(); ++i) out.pixels[i] = uint8_t(std::clamp(std::lrint(in.pixels[i] * (1 + amount * n[i])), 0L, 255L));
    return out;
}

// ffmpeg on the frames, where one is on the PATH (no shell: posix_spawnp with the arguments as they are)
void write_mp4(const std::string& dir, double fps) {
    const std::string pattern = dir + "/frame_%04d.png", out = dir + "/animation.mp4";
    const std::string rate = std::to_string(fps);
    const char* argv[] = {"ffmpeg", "-y", "-loglevel", "error", "-framerate", rate.c_str(), "-i", pattern.c_str(), "-pix_fmt", "yuv420p", out.c_str(), nullptr};
    pid_t pid;
    if (posix_spawnp(&pid, "ffmpeg", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) return;  // (no ffmpeg: no mp4)
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) std::fprintf(stderr, "wrote %s\n", out.c_str());
    else std::fprintf(stderr, "sdref animate: ffmpeg failed: no animation.mp4\n");
}

}  // namespace

int cmd_animate(int argc, char** argv) {
    Args args(argc, argv, 2);
    AnimateFlags a = with_defaults(animate_params(), Origin::Cli);
    GenerationRequest base = with_defaults(generation_params(), Origin::Cli);
    Folders folders = with_defaults(folder_params(), Origin::Cli);
    while (!args.done()) {
        const std::string f = args.next();
        if (!take(animate_params(), a, f, args) && !take(generation_params(), base, f, args) && !take(folder_params(), folders, f, args))
            fail("animate: unknown option \"", f, "\" (see sdref animate --help)");
        if (a.help) {
            std::printf("usage: sdref animate -p PROMPT --frames N -o OUTDIR [options]\n%s%s", usage_lines(animate_params()).c_str(),
                        usage_lines(generation_params()).c_str());
            return 0;
        }
    }
    if (base.prompt.empty()) fail("animate: -p PROMPT is required");
    if (a.seed_behavior != "iter" && a.seed_behavior != "fixed") fail("--seed-behavior: \"", a.seed_behavior, "\" (valid: iter, fixed)");
    if (a.border != "replicate" && a.border != "wrap") fail("--border: \"", a.border, "\" (valid: replicate, wrap)");
    if (a.color_coherence != "lab" && a.color_coherence != "none") fail("--color-coherence: \"", a.color_coherence, "\" (valid: lab, none)");
    // every schedule, checked before the first frame
    const int64_t N = a.frames;
    const double seed_for_s = double(base.seed);
    const std::vector<double> zoom = parse_keyframes(a.zoom, N, "--zoom", seed_for_s), angle = parse_keyframes(a.angle, N, "--angle", seed_for_s);
    const std::vector<double> tx = parse_keyframes(a.translation_x, N, "--translation-x", seed_for_s);
    const std::vector<double> ty = parse_keyframes(a.translation_y, N, "--translation-y", seed_for_s);
    const std::vector<double> strength = parse_keyframes(a.strength, N, "--strength-schedule", seed_for_s);
    const std::vector<double> noise = parse_keyframes(a.noise, N, "--noise-schedule", seed_for_s);
    const std::vector<double> cfg = a.cfg.empty() ? std::vector<double>() : parse_keyframes(a.cfg, N, "--cfg-schedule", seed_for_s);
    for (int64_t k = 0; k < N; ++k) {
        if (!(strength[size_t(k)] >= 0 && strength[size_t(k)] < 1)) fail("--strength-schedule: frame ", k, " has ", strength[size_t(k)], ", outside [0, 1)");
        if (!(zoom[size_t(k)] > 0)) fail("--zoom: frame ", k, " has ", zoom[size_t(k)], ", not above 0");
    }
    std::filesystem::create_directories(a.output);

    EngineOptions eo;
    eo.folders = folders;
    eo.origin = Origin::Cli;
    eo.default_model = base.model.empty() ? default_model_path() : "";
    Engine engine(eo);
    signal(SIGINT, [](int) { interrupted = true; });
    if (base.seed < 0) base.seed = int64_t(std::chrono::system_clock::now().time_since_epoch().count() % 4294967295);
    std::vector<Image> frames;
    Image first;
    for (int64_t k = 0; k < N && !interrupted; ++k) {
        GenerationRequest r = base;
        r.seed = a.seed_behavior == "iter" ? base.seed + k : base.seed;
        if (!cfg.empty()) r.cfg_scale = cfg[size_t(k)];
        if (k > 0) {  // the last frame moved, its colours kept, noised: the init image of this one
            Warp2D w;
            w.angle = angle[size_t(k)], w.zoom = zoom[size_t(k)], w.tx = tx[size_t(k)], w.ty = ty[size_t(k)];
            w.border = a.border == "wrap" ? WarpBorder::Wrap : WarpBorder::Replicate;
            Image init = warp_2d(frames.back(), w);
            if (a.color_coherence == "lab") init = match_colors_lab(init, first);
            r.init_image.source = "frame " + std::to_string(k - 1);
            r.init_image.image = add_noise(init, noise[size_t(k)], uint64_t(r.seed));
            r.width = init.width, r.height = init.height;
            r.denoising_strength = 1 - strength[size_t(k)];
        }
        std::vector<GeneratedImage> out = engine.run(r, [&](const Progress& p) {
            std::fprintf(stderr, "\r  frame %lld/%lld: step %d/%d ", static_cast<long long>(k + 1), static_cast<long long>(N), p.step, p.steps);
            if (interrupted) throw Interrupted{};
        });
        if (out.empty()) break;  // (interrupted in this frame)
        char name[32];
        std::snprintf(name, sizeof name, "/frame_%04lld.png", static_cast<long long>(k));
        const std::string parameters = out[0].parameters + ", Animation frame: " + std::to_string(k) + "/" + std::to_string(N) +
                                       cat(", Zoom: ", zoom[size_t(k)], ", Angle: ", angle[size_t(k)], ", Translation: ", tx[size_t(k)], ",", ty[size_t(k)],
                                           k > 0 ? cat(", Strength: ", strength[size_t(k)], ", Noise: ", noise[size_t(k)]) : std::string());
        write_png(a.output + name, out[0].image, {{"parameters", parameters}});
        if (!a.preview.empty()) write_png(a.preview, out[0].image);
        frames.push_back(out[0].image);
        if (k == 0) first = out[0].image;
    }
    std::fprintf(stderr, "\n");
    if (frames.empty()) fail("animate: interrupted before the first frame");
    write_animated_webp(a.output + "/animation.webp", frames, a.fps);
    std::fprintf(stderr, "wrote %zu frames and %s/animation.webp%s\n", frames.size(), a.output.c_str(), interrupted ? " (interrupted)" : "");
    write_mp4(a.output, a.fps);
    return interrupted ? 130 : 0;
}

}  // namespace sdref::cli
