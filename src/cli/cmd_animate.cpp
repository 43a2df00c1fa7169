// sdref animate -p PROMPT --frames N -o OUTDIR: Deforum's 2D animation mode (app/animate.h) from the command line.
// Every schedule is a keyframe string, "0:(1.0), 30:(1.04)", with expressions in t (pipeline/keyframes.h). Frames
// go to OUTDIR/frame_0000.png ... with their parameters, then OUTDIR/animation.webp, and OUTDIR/animation.mp4 where
// an ffmpeg binary is on the PATH. Ctrl-C stops after the frame being drawn (which is dropped); the frames so far
// are kept and animated.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/animate.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "pipeline/webp_anim.h"

extern char** environ;

namespace sdref::cli {

namespace {

struct AnimateFlags {
    AnimationSettings animation;
    std::string output, preview;
    double fps;
    bool help;
};

using A = AnimateFlags;
// clang-format off
const std::vector<Param<AnimateFlags>>& animate_params() {
    static const std::vector<Param<A>> rows = {
        {"--output", "-o", nullptr, nullptr, "DIR", "animation", nullptr, 0, 0, "the folder for frame_0000.png ... and animation.webp",
         [](A& a) -> ParamRef { return &a.output; }},
        {"--frames", nullptr, nullptr, nullptr, "N", "30", nullptr, 1, 100000, "how many frames", [](A& a) -> ParamRef { return &a.animation.frames; }},
        {"--fps", nullptr, nullptr, nullptr, "N", "12", nullptr, 0.1, 240, "frames per second of the animation files",
         [](A& a) -> ParamRef { return &a.fps; }},
        {"--zoom", nullptr, nullptr, nullptr, "SCHEDULE", "0:(1.04)", nullptr, 0, 0, "scale per frame (above 1: into the picture)",
         [](A& a) -> ParamRef { return &a.animation.zoom; }},
        {"--angle", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0)", nullptr, 0, 0, "degrees per frame, counter-clockwise",
         [](A& a) -> ParamRef { return &a.animation.angle; }},
        {"--translation-x", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0)", nullptr, 0, 0, "pixels per frame to the right",
         [](A& a) -> ParamRef { return &a.animation.translation_x; }},
        {"--translation-y", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0)", nullptr, 0, 0, "pixels per frame down",
         [](A& a) -> ParamRef { return &a.animation.translation_y; }},
        {"--strength-schedule", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0.65)", nullptr, 0, 0,
         "how much of the last frame each frame keeps (Deforum's strength: img2img's denoising is 1 - it)",
         [](A& a) -> ParamRef { return &a.animation.strength; }},
        {"--cfg-schedule", nullptr, nullptr, nullptr, "SCHEDULE", "", nullptr, 0, 0, "CFG scale per frame (default: --cfg-scale's)",
         [](A& a) -> ParamRef { return &a.animation.cfg; }},
        {"--noise-schedule", nullptr, nullptr, nullptr, "SCHEDULE", "0:(0.02)", nullptr, 0, 0, "noise added to each warped frame",
         [](A& a) -> ParamRef { return &a.animation.noise; }},
        {"--seed-behavior", nullptr, nullptr, nullptr, "NAME", "iter", nullptr, 0, 0, "iter (seed + frame) or fixed",
         [](A& a) -> ParamRef { return &a.animation.seed_behavior; }},
        {"--border", nullptr, nullptr, nullptr, "NAME", "replicate", nullptr, 0, 0, "what the warp shows past the edges: replicate or wrap",
         [](A& a) -> ParamRef { return &a.animation.border; }},
        {"--color-coherence", nullptr, nullptr, nullptr, "NAME", "lab", nullptr, 0, 0, "match each frame's colours to frame 0's: lab or none",
         [](A& a) -> ParamRef { return &a.animation.color_coherence; }},
        {"--preview", nullptr, nullptr, nullptr, "FILE", "", nullptr, 0, 0, "the latest frame, written after each",
         [](A& a) -> ParamRef { return &a.preview; }},
        {"--help", "-h", nullptr, nullptr, "", "false", nullptr, 0, 0, "this help", [](A& a) -> ParamRef { return &a.help; }},
    };
    return rows;
}
// clang-format on

std::atomic<bool> interrupted{false};

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
    EngineOptions eo;
    eo.folders = folders;
    eo.origin = Origin::Cli;
    eo.default_model = base.model.empty() ? default_model_path() : "";
    Engine engine(eo);
    signal(SIGINT, [](int) { interrupted = true; });
    const auto flag = [](const std::string& setting) {  // strength_schedule -> --strength-schedule
        std::string f = "--" + setting;
        std::replace(f.begin(), f.end(), '_', '-');
        return f;
    };
    std::filesystem::create_directories(a.output);
    const int64_t N = a.animation.frames;
    const std::vector<AnimationFrame> frames = animate(
        engine, base, a.animation, flag,
        [&](int64_t k, const AnimationFrame& f) {
            char name[32];
            std::snprintf(name, sizeof name, "/frame_%04lld.png", static_cast<long long>(k));
            write_png(a.output + name, f.image, {{"parameters", f.parameters}});
            if (!a.preview.empty()) write_png(a.preview, f.image);
        },
        [&](int64_t k, const Progress& p) {
            std::fprintf(stderr, "\r  frame %lld/%lld: step %d/%d ", static_cast<long long>(k + 1), static_cast<long long>(N), p.step, p.steps);
            if (interrupted) throw Interrupted{};
        });
    std::fprintf(stderr, "\n");
    if (frames.empty()) fail("animate: interrupted before the first frame");
    std::vector<Image> pictures;
    for (const AnimationFrame& f : frames) pictures.push_back(f.image);
    write_animated_webp(a.output + "/animation.webp", pictures, a.fps);
    std::fprintf(stderr, "wrote %zu frames and %s/animation.webp%s\n", frames.size(), a.output.c_str(), interrupted ? " (interrupted)" : "");
    write_mp4(a.output, a.fps);
    return interrupted ? 130 : 0;
}

}  // namespace sdref::cli
