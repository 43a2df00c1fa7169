// api.h: the HTTP API's JSON, apart from any socket: A1111's txt2img/img2img bodies (and OpenAI's
// images/generations) read into a GenerationRequest through the parameter table, and the responses A1111's
// clients expect. Kept free of the HTTP library so the fuzz harness (tests/fuzz/fuzz_api.cpp) drives it directly.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/animate.h"
#include "app/engine.h"
#include "app/request.h"

namespace sdref::api {

using nlohmann::json;

// A request the server refuses: HTTP status, the field at fault ("" for the body as a whole), the message.
struct ApiError {
    int status;
    std::string field, message;
};

// The body's text as JSON; malformed JSON or a body that is not an object is a 400 naming the byte offset.
json parse_body(const std::string& body);

// POST /sdapi/v1/txt2img and /sdapi/v1/img2img: every known field through the table's rows (A1111's names and
// defaults), override_settings (sd_model_checkpoint, CLIP_stop_at_last_layers, sd_vae) and ControlNet units in
// alwayson_scripts.controlnet.args. A value out of range, an unknown sampler, or a feature sdref lacks that was
// switched on (enable_hr, restore_faces...) is a 422 naming the field; fields sdref does not know are ignored.
// `defaults`: whose defaults fill the fields the body leaves out: A1111's API (Api), or the sdref command's (Cli:
// the model's size, sampler and CFG; a job `sdref submit` queued says so with "sdref_defaults": "command").
GenerationRequest txt2img_request(const json& body, bool img2img, Origin defaults = Origin::Api);
// POST /v1/images/generations: prompt, n, size ("512x512"), response_format (b64_json only), model.
GenerationRequest openai_request(const json& body);

// A1111's response: {"images": [base64 PNG...], "parameters": the request as used, "info": a JSON string}.
json txt2img_response(const GenerationRequest& r, const std::vector<GeneratedImage>& images, bool interrupted);
json openai_response(const GenerationRequest& r, const std::vector<GeneratedImage>& images);
// The request as the table's API fields (images as "<image>"), the way A1111 echoes "parameters".
json request_json(const GenerationRequest& r);
// The image's PNG with its parameters chunk, base64.
std::string png_base64(const GeneratedImage& image);

// GET /sdref/v1/params: the parameter table for the web page (field, PNG key, flag, default, range, help).
json params_table();
// POST /sdapi/v1/png-info: {"image": base64 PNG} -> {"info", "items", "parameters"}.
json png_info(const json& body);

// POST /sdapi/v1/extra-single-image (A1111's Extras tab on one picture): the fields it reads. The picture (base64,
// a data: URL too), upscaler_1 (a name in --upscaler-dir; "None": no upscale), resize_mode 0 (by
// upscaling_resize) or 1 (to upscaling_resize_w x upscaling_resize_h); A1111's other fields (face restoration, a
// second upscaler) are refused when set, never ignored.
struct ExtrasRequest {
    Image image;
    std::string parameters;   // the picture's own "parameters" text, if it is a PNG with one
    std::string upscaler;     // "" for None
    double scale = 2;
    int64_t width = 0, height = 0;  // resize_mode 1
};
ExtrasRequest extras_request(const json& body);

// POST /sdref/v1/animate (sdref's own): the txt2img fields, and "animation": {frames, zoom, angle, translation_x,
// translation_y, strength_schedule, cfg_schedule, noise_schedule, seed_behavior, border, color_coherence, fps}
// (app/animate.h; absent fields take its defaults). A field of the wrong type is a 422 naming it.
AnimationSettings animation_settings(const json& body);
double animation_fps(const json& body);

}  // namespace sdref::api
