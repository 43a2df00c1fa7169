// animate.h: Deforum's 2D animation on the Engine, for `sdref animate` and the server's POST /sdref/v1/animate.
//
//   frame 0      the request as it is (txt2img; img2img with its init image)
//   frame k > 0  the last frame warped (zoom, angle, translation about the centre: pipeline/warp.h), its colours
//                matched to frame 0's (colour coherence "lab"), noised (x (1 + amount n), n from the frame's seed),
//                then img2img with denoising strength 1 - strength (Deforum's strength: how much of the last frame
//                stays) and the frame's CFG
// Every schedule is a keyframe string (pipeline/keyframes.h); seeds: "iter" (seed + k) or "fixed". docs/animation.md.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app/engine.h"

namespace sdref {

struct AnimationSettings {
    int64_t frames = 30;
    std::string zoom = "0:(1.04)", angle = "0:(0)", translation_x = "0:(0)", translation_y = "0:(0)";
    std::string strength = "0:(0.65)", cfg, noise = "0:(0.02)";  // cfg "": the request's CFG scale throughout
    std::string seed_behavior = "iter";    // iter | fixed
    std::string border = "replicate";      // replicate | wrap
    std::string color_coherence = "lab";   // lab | none
};

struct AnimationFrame {
    Image image;
    std::string parameters;  // the generation's, and Animation frame, Zoom, Angle, Translation, Strength, Noise
};

// Every schedule and name is checked before the first frame; an error names the setting as `name(setting)` gives it
// ("zoom" -> "--zoom" on the command line). `on_frame` sees each frame as it is done; `on_step` each sampling step
// (frame k, its progress), and may throw Interrupted: the frames done so far are returned.
std::vector<AnimationFrame> animate(Engine& engine, const GenerationRequest& request, const AnimationSettings& s,
                                    const std::function<std::string(const std::string&)>& name,
                                    const std::function<void(int64_t, const AnimationFrame&)>& on_frame = {},
                                    const std::function<void(int64_t, const Progress&)>& on_step = {});

}  // namespace sdref
