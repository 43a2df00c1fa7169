// sdref [options]: generate images. Every generation flag is a row of src/app/params.cpp's table (shared with the
// HTTP API and the PNG parameters); this file adds only what belongs to the command: where to write, threads,
// the safety checker, verbosity. Flag names follow stable-diffusion.cpp where the concept is the same.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "app/engine.h"
#include "app/params.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "cli/xy_plot.h"
#include "core/error.h"
#include "core/memory.h"
#include "io/safetensors.h"
#include "kernels/gemm.h"
#include "pipeline/grid.h"
#include "pipeline/resize.h"

namespace sdref::cli {

namespace {

struct CliOptions {
    std::string output, save_latents, safety_checker, preview, preview_method, grid, x_axis, y_axis;
    int64_t preview_interval;
    bool no_safety_checker, verbose, help;
};

using O = CliOptions;

std::string normalize_preview_method(const std::string& value, const std::string& name) {
    if (value == "approx" || value == "taesd") return value;
    fail(name, ": unknown preview method \"", value, "\" (valid: approx, taesd)");
}
// clang-format off
const std::vector<Param<CliOptions>>& cli_params() {
    static const std::vector<Param<O>> rows = {
        {"--output", "-o", nullptr, nullptr, "FILE", "output.png", nullptr, 0, 0, "PNG to write (batches add _1, _2, ...)",
         [](O& o) -> ParamRef { return &o.output; }},
        {"--save-latents", nullptr, nullptr, nullptr, "FILE", "", nullptr, 0, 0,
         "also write the final latents [1, 4, H/8, W/8] as safetensors", [](O& o) -> ParamRef { return &o.save_latents; }},
        {"--preview", nullptr, nullptr, nullptr, "FILE", "", nullptr, 0, 0,
         "while sampling, write a quick picture of the latents to FILE (the model family's latent-to-RGB factors)",
         [](O& o) -> ParamRef { return &o.preview; }},
        {"--preview-interval", nullptr, nullptr, nullptr, "N", "1", nullptr, 1, 1000, "--preview every N steps (and at the last)",
         [](O& o) -> ParamRef { return &o.preview_interval; }},
        {"--preview-method", nullptr, nullptr, nullptr, "NAME", "approx", nullptr, 0, 0,
         "--preview's pictures: approx (the latent-to-RGB map, instant) or taesd (decoded by --taesd's TAESD)",
         [](O& o) -> ParamRef { return &o.preview_method; }, normalize_preview_method},
        {"--grid", nullptr, nullptr, nullptr, "FILE", "", nullptr, 0, 0, "also write the batch's pictures as one grid",
         [](O& o) -> ParamRef { return &o.grid; }},
        {"--x-axis", nullptr, nullptr, nullptr, "AXIS=V1,...", "", nullptr, 0, 0,
         "an X/Y plot to -o: one picture per value, AXIS a generation flag without dashes (sampling-method, "
         "scheduler, steps, cfg-scale, seed, strength, clip-skip, ...) or lora:NAME (its weight)",
         [](O& o) -> ParamRef { return &o.x_axis; }},
        {"--y-axis", nullptr, nullptr, nullptr, "AXIS=V1,...", "", nullptr, 0, 0, "the X/Y plot's rows (with --x-axis)",
         [](O& o) -> ParamRef { return &o.y_axis; }},
        {"--safety-checker", nullptr, nullptr, nullptr, "PATH", "", nullptr, 0, 0,
         "check images with the SD safety checker (a safety_checker/ folder or .safetensors); a model folder's own "
         "safety_checker/ is used unless --no-safety-checker", [](O& o) -> ParamRef { return &o.safety_checker; }},
        {"--no-safety-checker", nullptr, nullptr, nullptr, "", "false", nullptr, 0, 0, "do not check images",
         [](O& o) -> ParamRef { return &o.no_safety_checker; }},
        {"--verbose", "-v", nullptr, nullptr, "", "false", nullptr, 0, 0,
         "timings per stage and step; tensors the checkpoint has but the models do not use",
         [](O& o) -> ParamRef { return &o.verbose; }},
        {"--help", "-h", nullptr, nullptr, "", "false", nullptr, 0, 0, "this help", [](O& o) -> ParamRef { return &o.help; }},
    };
    return rows;
}
// clang-format on

std::string numbered(const std::string& path, int64_t index) {
    if (index == 0) return path;
    const size_t dot = path.rfind('.');
    const size_t slash = path.rfind('/');
    const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
    return has_ext ? path.substr(0, dot) + "_" + std::to_string(index) + path.substr(dot) : path + "_" + std::to_string(index);
}


}  // namespace

std::string generate_usage() {
    return "usage: sdref [-m MODEL] -p PROMPT [options]\n" + usage_lines(generation_params()) + "ControlNet units:\n" +
           usage_lines(control_params()) + "Folders:\n" + usage_lines(folder_params()) + "The command:\n" + usage_lines(cli_params());
}

int cmd_generate(int argc, char** argv) {
    Args args(argc, argv, 1);
    GenerationRequest r = with_defaults(generation_params(), Origin::Cli);
    Folders folders = with_defaults(folder_params(), Origin::Cli);
    CliOptions o = with_defaults(cli_params(), Origin::Cli);
    bool have_prompt = false;
    while (!args.done()) {
        const std::string a = args.next();
        if (a == "--control-net") {  // a new ControlNet unit; the --control-* flags after it are its own
            r.controls.push_back(with_defaults(control_params(), Origin::Cli));
            set_param(control_params().front(), r.controls.back(), args.value(a), a, Origin::Cli);
        } else if (find_flag(control_params(), a)) {
            if (r.controls.empty()) fail(a, " needs a --control-net before it");
            take(control_params(), r.controls.back(), a, args);
        } else if (take(generation_params(), r, a, args)) {
            have_prompt = have_prompt || a == "-p" || a == "--prompt";
        } else if (!take(folder_params(), folders, a, args) && !take(cli_params(), o, a, args)) {
            fail("unknown option \"", a, "\" (see sdref --help)");
        }
        if (o.help) {
            std::printf("%s", generate_usage().c_str());
            return 0;
        }
    }
    if (!have_prompt) fail("-p/--prompt: no prompt given");

    EngineOptions eo;
    eo.folders = folders;
    eo.origin = Origin::Cli;
    eo.default_model = r.model.empty() ? default_model_path() : "";
    eo.safety_checker = o.safety_checker;
    eo.no_safety_checker = o.no_safety_checker;
    eo.verbose = o.verbose;
    // the flags that only mean something beside others
    const bool plot = !o.x_axis.empty() || !o.y_axis.empty();
    if (o.preview.empty() && o.preview_interval != 1) fail("--preview-interval needs --preview");
    if (o.preview_method == "taesd" && r.taesd.empty()) fail("--preview-method taesd needs --taesd FILE");
    if (o.preview_method == "taesd") eo.preview_taesd = r.taesd;
    if (plot && !o.grid.empty()) fail("--grid: an X/Y plot is already one picture (-o)");
    const std::optional<XYPlot> xy = plot ? std::optional<XYPlot>(XYPlot::make(r, o.x_axis, o.y_axis)) : std::nullopt;

    Engine engine(eo);
    auto step_start = std::chrono::steady_clock::now();
    auto on_step = [&](const Progress& s, const std::string& cell) {
        if (s.step == 1) step_start = std::chrono::steady_clock::now();
        const double per = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count() / s.step;
        const int width = 30, done = width * s.step / s.steps;
        std::fprintf(stderr, "\r  %sstep %d/%d |%s%s| %.2f s/it, ETA %.0f s ", cell.c_str(), s.step, s.steps,
                     std::string(size_t(done), '#').c_str(), std::string(size_t(width - done), ' ').c_str(), per, per * (s.steps - s.step));
        if (s.step == s.steps) std::fprintf(stderr, "\n");
        std::fflush(stderr);
        if (!o.preview.empty() && (s.step % o.preview_interval == 0 || s.step == s.steps)) {
            const Image shot = engine.preview_image(s.latents);  // (the approximation: an eighth of the size)
            const int64_t width = s.latents.dim(2) * 8, height = s.latents.dim(1) * 8;
            write_png(o.preview, shot.width == width ? shot : pil_resize(shot, int(width), int(height), ResizeFilter::Bicubic));
        }
    };
    if (xy) {
        xy->draw(engine, o.output, [&](size_t cell, const Progress& s) {
            on_step(s, "cell " + std::to_string(cell + 1) + "/" + std::to_string(xy->cells.size()) + ": ");
        });
        std::fprintf(stderr, "wrote %s (%zu cells)\n", o.output.c_str(), xy->cells.size());
        return 0;
    }
    const std::vector<GeneratedImage> images = engine.run(r, [&](const Progress& s) { on_step(s, ""); });
    for (size_t b = 0; b < images.size(); ++b) {
        const GeneratedImage& img = images[b];
        if (img.nsfw) std::fprintf(stderr, "safety checker: image %zu flagged as NSFW and replaced by black\n", b);
        const std::string path = numbered(o.output, int64_t(b));
        write_png(path, img.image, {{"parameters", img.parameters}});
        if (!o.save_latents.empty()) {
            Tensor l = img.result.latents;
            l.reshape({1, l.dim(0), l.dim(1), l.dim(2)});
            write_safetensors(numbered(o.save_latents, int64_t(b)), {make_record("latents", l)}, {{"parameters", img.parameters}});
        }
        std::fprintf(stderr, "wrote %s (seed %lld)\n", path.c_str(), (long long)img.seed);
        if (o.verbose) {
            const GenerationResult& t = img.result;
            double total = 0;
            for (double s : t.step_seconds) total += s;
            std::fprintf(stderr, "text encoder %.3f s, sampling %.3f s (%zu %s steps, %.3f s/step), VAE decode %.3f s; peak memory: text "
                         "encoders %.0f MB, sampling %.0f MB, decode %.0f MB\n",
                         t.text_seconds, total, t.step_seconds.size(), engine.model().denoiser().name(), total / double(t.step_seconds.size()), t.vae_seconds,
                         double(t.text_peak) / 1e6, double(t.sampling_peak) / 1e6, double(t.decode_peak) / 1e6);
        }
    }
    if (!o.grid.empty() && !images.empty()) {
        std::vector<Image> pictures;
        for (const GeneratedImage& img : images) pictures.push_back(img.image);
        const int columns = int(std::ceil(std::sqrt(double(pictures.size()))));
        write_png(o.grid, image_grid(pictures, columns), {{"parameters", images[0].parameters}});
        std::fprintf(stderr, "wrote %s (%zu pictures)\n", o.grid.c_str(), pictures.size());
    }
    return 0;
}

}  // namespace sdref::cli
