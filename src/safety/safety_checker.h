// safety_checker.h: Stable Diffusion's safety checker (diffusers StableDiffusionSafetyChecker).
//
//   e        = visual_projection(CLIP_vision(clip_preprocess(image)))              [P]
//   special  = round(cos(e, special_care_embeds[j]) - special_care_embeds_weights[j], 3)        j < 3
//   adjust   = 0.01 if any special score > 0, else 0
//   concept  = round(cos(e, concept_embeds[j]) - concept_embeds_weights[j] + adjust, 3)        j < 17
//   flagged  = any concept score > 0; a flagged image is replaced by black
// (the special-care scores of later concepts already include the adjustment once an earlier one fired).
// Loaded from a diffusers safety_checker/ folder (model.safetensors) or any .safetensors with those names.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/clip_vision.h"
#include "pipeline/image.h"

namespace sdref {

struct SafetyResult {
    Tensor clip_input;                    // [3, 224, 224]
    Tensor image_embeds;                  // [P]
    std::vector<float> cos_special;       // cosine similarities to the special-care concepts
    std::vector<float> cos_concept;       // cosine similarities to the concepts
    std::vector<double> special_scores;   // rounded scores as above
    std::vector<double> concept_scores;
    bool has_nsfw = false;
};

class SafetyChecker {
public:
    // A .safetensors file, or a folder holding model.safetensors (diffusers' safety_checker/).
    static SafetyChecker load(const std::string& path);

    SafetyResult check(const Image& image) const;

private:
    std::shared_ptr<WeightStore> weights_;
    std::shared_ptr<ClipVisionEncoder> vision_;
    Matrix projection_;                        // [P, D] visual_projection.weight
    Tensor concept_embeds_, concept_weights_;  // [17, P], [17]
    Tensor special_embeds_, special_weights_;  // [3, P], [3]
};

}  // namespace sdref
