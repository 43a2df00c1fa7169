#include "app/animate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "pipeline/keyframes.h"
#include "pipeline/warp.h"

namespace sdref {

namespace {

// x (1 + amount n) per value, n standard normal from the frame's seed (Deforum's add_noise), back to 8 bits
Image add_noise(const Image& in, double amount, uint64_t seed) {
    if (amount == 0) return in;
    std::vector<float> n(in.pixels.size());
    TorchGenerator(seed).randn(n.data(), n.size());
    Image out = in;
    for (size_t i = 0; i < n.size(); ++i) out.pixels[i] = uint8_t(std::clamp(std::lrint(in.pixels[i] * (1 + amount * n[i])), 0L, 255L));
    return out;
}

}  // namespace

std::vector<AnimationFrame> animate(Engine& engine, const GenerationRequest& request, const AnimationSettings& s,
                                    const std::function<std::string(const std::string&)>& name,
                                    const std::function<void(int64_t, const AnimationFrame&)>& on_frame,
                                    const std::function<void(int64_t, const Progress&)>& on_step) {
    // every setting, before the first frame
    const int64_t N = s.frames;
    if (N < 1) fail(name("frames"), ": at least 1, got ", N);
    if (s.seed_behavior != "iter" && s.seed_behavior != "fixed") fail(name("seed_behavior"), ": \"", s.seed_behavior, "\" (valid: iter, fixed)");
    if (s.border != "replicate" && s.border != "wrap") fail(name("border"), ": \"", s.border, "\" (valid: replicate, wrap)");
    if (s.color_coherence != "lab" && s.color_coherence != "none")
        fail(name("color_coherence"), ": \"", s.color_coherence, "\" (valid: lab, none)");
    GenerationRequest base = request;
    if (base.seed < 0) base.seed = int64_t(std::chrono::system_clock::now().time_since_epoch().count() % 4294967295);
    const double seed = double(base.seed);
    auto schedule = [&](const std::string& text, const char* setting) { return parse_keyframes(text, N, name(setting), seed); };
    const std::vector<double> zoom = schedule(s.zoom, "zoom"), angle = schedule(s.angle, "angle");
    const std::vector<double> tx = schedule(s.translation_x, "translation_x"), ty = schedule(s.translation_y, "translation_y");
    const std::vector<double> strength = schedule(s.strength, "strength_schedule"), noise = schedule(s.noise, "noise_schedule");
    const std::vector<double> cfg = s.cfg.empty() ? std::vector<double>() : schedule(s.cfg, "cfg_schedule");
    for (int64_t k = 0; k < N; ++k) {
        if (!(strength[size_t(k)] >= 0 && strength[size_t(k)] < 1))
            fail(name("strength_schedule"), ": frame ", k, " has ", strength[size_t(k)], ", outside [0, 1)");
        if (!(zoom[size_t(k)] > 0)) fail(name("zoom"), ": frame ", k, " has ", zoom[size_t(k)], ", not above 0");
    }
    // frame by frame
    std::vector<AnimationFrame> frames;
    for (int64_t k = 0; k < N; ++k) {
        GenerationRequest r = base;
        r.batch_count = r.batch_size = 1;
        r.seed = s.seed_behavior == "iter" ? base.seed + k : base.seed;
        if (!cfg.empty()) r.cfg_scale = cfg[size_t(k)];
        if (k > 0) {  // the last frame moved, its colours kept, noised: the init image of this one
            Warp2D w;
            w.angle = angle[size_t(k)], w.zoom = zoom[size_t(k)], w.tx = tx[size_t(k)], w.ty = ty[size_t(k)];
            w.border = s.border == "wrap" ? WarpBorder::Wrap : WarpBorder::Replicate;
            Image init = warp_2d(frames.back().image, w);
            if (s.color_coherence == "lab") init = match_colors_lab(init, frames.front().image);
            r.init_image.source = "frame " + std::to_string(k - 1);
            r.init_image.image = add_noise(init, noise[size_t(k)], uint64_t(r.seed));
            r.mask = {};
            r.width = init.width, r.height = init.height;
            r.denoising_strength = 1 - strength[size_t(k)];
        }
        const std::vector<GeneratedImage> out = engine.run(r, [&](const Progress& p) {
            if (on_step) on_step(k, p);
        });
        if (out.empty()) break;  // (interrupted in this frame)
        AnimationFrame f{out[0].image, out[0].parameters + ", Animation frame: " + std::to_string(k) + "/" + std::to_string(N) +
                                           cat(", Zoom: ", zoom[size_t(k)], ", Angle: ", angle[size_t(k)], ", Translation: ", tx[size_t(k)], ",",
                                               ty[size_t(k)], k > 0 ? cat(", Strength: ", strength[size_t(k)], ", Noise: ", noise[size_t(k)]) : std::string())};
        frames.push_back(std::move(f));
        if (on_frame) on_frame(k, frames.back());
    }
    return frames;
}

}  // namespace sdref
