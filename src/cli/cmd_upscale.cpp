// sdref upscale -i IN -o OUT --upscale-model FILE [--upscale-scale S]: A1111's Extras tab for one picture. The
// picture goes through a Real-ESRGAN network (models/upscaler.h) in A1111's overlapping tiles until it is S times
// its size (rounded down to a multiple of 8), then Lanczos brings it to that size exactly. The PNG keeps the input's
// own parameters (a generated picture's) and adds A1111's "Postprocess upscale by" and "Postprocess upscaler".
#include <cstdio>
#include <filesystem>

#include "app/params.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "kernels/gemm.h"
#include "models/upscaler.h"
#include "pipeline/image.h"

namespace sdref::cli {

namespace {

struct UpscaleFlags {
    std::string input, output, model;
    double scale;
    int64_t tile, overlap, threads;
    bool help;
};

using U = UpscaleFlags;
// clang-format off
const std::vector<Param<UpscaleFlags>>& upscale_params() {
    static const std::vector<Param<U>> rows = {
        {"--init-img", "-i", nullptr, nullptr, "FILE", "", nullptr, 0, 0, "the picture to upscale (PNG, JPEG, ...)",
         [](U& u) -> ParamRef { return &u.input; }},
        {"--output", "-o", nullptr, nullptr, "FILE", "upscaled.png", nullptr, 0, 0, "the PNG to write",
         [](U& u) -> ParamRef { return &u.output; }},
        {"--upscale-model", nullptr, nullptr, nullptr, "FILE", "", nullptr, 0, 0,
         "a Real-ESRGAN network: RRDBNet (RealESRGAN_x4plus, _x2plus) or SRVGGNetCompact (realesr-general-x4v3), "
         ".pth or .safetensors", [](U& u) -> ParamRef { return &u.model; }},
        {"--upscale-scale", nullptr, nullptr, nullptr, "S", "0", nullptr, 0, 16,
         "the factor (A1111's Resize; 0: the network's own)", [](U& u) -> ParamRef { return &u.scale; }},
        {"--upscale-tile", nullptr, nullptr, nullptr, "N", "192", nullptr, 0, 4096,
         "tiles of N pixels (A1111's ESRGAN_tile; 0: the whole picture at once)", [](U& u) -> ParamRef { return &u.tile; }},
        {"--upscale-tile-overlap", nullptr, nullptr, nullptr, "N", "8", nullptr, 0, 512,
         "pixels neighbouring tiles share, blended (A1111's ESRGAN_tile_overlap)", [](U& u) -> ParamRef { return &u.overlap; }},
        {"--threads", "-t", nullptr, nullptr, "N", "0", nullptr, 0, 1024, "CPU threads (0: all)",
         [](U& u) -> ParamRef { return &u.threads; }},
        {"--help", "-h", nullptr, nullptr, "", "false", nullptr, 0, 0, "this help", [](U& u) -> ParamRef { return &u.help; }},
    };
    return rows;
}
// clang-format on

// A picture's own A1111 parameters (a PNG's "parameters" text), or "" (none, or not a PNG).
std::string parameters_of(const std::string& path) {
    try {
        for (const auto& [key, value] : read_png_text(path))
            if (key == "parameters") return value;
    } catch (const Error&) {
    }
    return "";
}

}  // namespace

int cmd_upscale(int argc, char** argv) {
    Args args(argc, argv, 2);
    UpscaleFlags f = with_defaults(upscale_params(), Origin::Cli);
    while (!args.done()) {
        const std::string a = args.next();
        if (!take(upscale_params(), f, a, args)) fail("upscale: unknown option \"", a, "\" (see sdref upscale --help)");
        if (f.help) {
            std::printf("usage: sdref upscale -i IN -o OUT --upscale-model FILE [options]\n%s", usage_lines(upscale_params()).c_str());
            return 0;
        }
    }
    if (f.input.empty()) fail("upscale: -i IN is required");
    if (f.model.empty()) fail("upscale: --upscale-model FILE is required");
    if (f.tile > 0 && f.overlap >= f.tile) fail("--upscale-tile-overlap (", f.overlap, ") must be less than --upscale-tile (", f.tile, ")");
    const kernels::ThreadScope threads(int(f.threads));
    const Image in = read_image(f.input, 3);
    const Upscaler model = Upscaler::load(f.model);
    const double scale = f.scale > 0 ? f.scale : model.scale();
    const Image out = upscale_by(model, in, scale, int(f.tile), int(f.overlap));
    std::string parameters = parameters_of(f.input);
    parameters += std::string(parameters.empty() ? "" : ", ") + "Postprocess upscale by: " + cat(scale) +
                  ", Postprocess upscaler: " + std::filesystem::path(f.model).stem().string();
    write_png(f.output, out, {{"parameters", parameters}});
    std::fprintf(stderr, "wrote %s (%dx%d, %s x%d)\n", f.output.c_str(), out.width, out.height, model.arch_name(), model.scale());
    return 0;
}

}  // namespace sdref::cli
