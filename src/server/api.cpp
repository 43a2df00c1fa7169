#include "server/api.h"

#include <chrono>
#include <limits>

#include "app/params.h"
#include "core/base64.h"
#include "core/error.h"
#include "schedulers/scheduler.h"
#include "schedulers/sigma_schedules.h"

namespace sdref::api {

namespace {

// A JSON scalar as the table reads values: text. Arrays of two numbers are pairs ("W,H"); null is "not given".
std::string value_text(const json& v, const std::string& field) {
    switch (v.type()) {
        case json::value_t::string: return v.get<std::string>();
        case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
        case json::value_t::number_integer: return std::to_string(v.get<int64_t>());
        case json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
        case json::value_t::number_float: return v.dump();
        case json::value_t::array:
            if (v.size() == 2 && v[0].is_number() && v[1].is_number()) return value_text(v[0], field) + "," + value_text(v[1], field);
            [[fallthrough]];
        default: throw ApiError{422, field, field + ": expected a number, text or true/false, got " + std::string(v.type_name())};
    }
}

// Every field of `body` that `table` knows, into `obj`; errors name the field (prefix: "alwayson_scripts...").
template <class T>
void read_fields(const std::vector<Param<T>>& table, T& obj, const json& body, const std::string& prefix) {
    for (const auto& [key, value] : body.items()) {
        const Param<T>* p = find_field(table, key);
        if (!p || value.is_null()) continue;
        const std::string field = prefix + key;
        const ParamRef ref = p->ref(obj);
        json v = value;
        // images: A1111's init_images is a list (the first is used); a ControlNet unit's image may be {"image": ...}
        if (std::holds_alternative<ImageInput*>(ref)) {
            if (v.is_array()) {
                if (v.empty()) continue;
                if (v.size() > 1) throw ApiError{422, field, field + ": sdref uses one init image, got " + std::to_string(v.size())};
                v = json(v[0]);
            }
            if (v.is_object() && v.contains("image")) v = json(v["image"]);
            if (!v.is_string()) throw ApiError{422, field, field + ": expected a base64 image"};
            if (v.get<std::string>().empty()) continue;
        }
        try {
            set_param(*p, obj, value_text(v, field), field, Origin::Api);
        } catch (const Error& e) {
            throw ApiError{422, field, e.what()};
        }
    }
}

// Fields of A1111's that change the picture in ways sdref does not implement: refused when switched on, so no
// client gets a silently different image.
void refuse_unsupported(const json& body) {
    for (const char* f : {"restore_faces", "tiling", "inpaint_full_res"})
        if (body.contains(f) && body[f].is_boolean() && body[f].get<bool>())
            throw ApiError{422, f, std::string(f) + ": not supported by sdref"};
    if (body.contains("styles") && body["styles"].is_array() && !body["styles"].empty())
        throw ApiError{422, "styles", "styles: saved styles are not supported by sdref (put the text in the prompt)"};
    if (body.contains("script_name") && body["script_name"].is_string() && !body["script_name"].get<std::string>().empty())
        throw ApiError{422, "script_name", "script_name: scripts are not supported by sdref"};
}

std::string b64_png(const Image& img, const std::string& parameters) {
    return base64_encode(encode_png(img, {{"parameters", parameters}}));
}

}  // namespace

// The request as the table's API fields, the way A1111 echoes "parameters".
json request_json(const GenerationRequest& request) {
    GenerationRequest r = request;
    json out = json::object();
    for (const Param<GenerationRequest>& p : generation_params()) {
        if (!p.field) continue;
        const ParamRef ref = p.ref(r);
        if (auto* i = std::get_if<int64_t*>(&ref)) out[p.field] = **i;
        else if (auto* d = std::get_if<double*>(&ref)) out[p.field] = std::isnan(**d) ? json(nullptr) : json(**d);
        else if (auto* s = std::get_if<std::string*>(&ref)) out[p.field] = **s;
        else if (auto* b = std::get_if<bool*>(&ref)) out[p.field] = **b;
        else if (auto* pr = std::get_if<IntPair*>(&ref)) out[p.field] = {(*pr)->a, (*pr)->b};
        else if (auto* im = std::get_if<ImageInput*>(&ref)) out[p.field] = (*im)->given() ? json("<image>") : json(nullptr);
    }
    for (const SamplerNames& s : sampler_table())
        if (s.name == r.sampler) out["sampler_name"] = s.a1111;
    return out;
}

json parse_body(const std::string& body) {
    json j;
    try {
        j = json::parse(body);
    } catch (const json::parse_error& e) {
        throw ApiError{400, "", std::string("the body is not valid JSON (byte ") + std::to_string(e.byte) + ")"};
    } catch (const json::exception& e) {  // a number too large for a double (found by fuzz_api)
        throw ApiError{400, "", std::string("the body is not usable JSON: ") + e.what()};
    }
    if (!j.is_object()) throw ApiError{400, "", "the body must be a JSON object"};
    return j;
}

GenerationRequest txt2img_request(const json& body, bool img2img, Origin defaults) {
    refuse_unsupported(body);
    GenerationRequest r = with_defaults(generation_params(), defaults);
    // A1111 takes the sampler from sampler_name, else from the older sampler_index
    json fields = body;
    if ((!fields.contains("sampler_name") || fields["sampler_name"].is_null()) && fields.contains("sampler_index"))
        fields["sampler_name"] = fields["sampler_index"];
    if (!img2img) {
        for (const char* f : {"init_images", "mask"})
            if (fields.contains(f) && !fields[f].is_null()) throw ApiError{422, f, std::string(f) + ": use /sdapi/v1/img2img for an init image"};
    }
    read_fields(generation_params(), r, fields, "");
    if (img2img && !r.init_image.given()) throw ApiError{422, "init_images", "init_images: img2img needs an init image"};
    if (fields.contains("override_settings") && fields["override_settings"].is_object()) {
        const json& o = fields["override_settings"];
        if (o.contains("sd_model_checkpoint") && o["sd_model_checkpoint"].is_string()) r.model = o["sd_model_checkpoint"].get<std::string>();
        if (o.contains("CLIP_stop_at_last_layers") && !o["CLIP_stop_at_last_layers"].is_null()) {
            json clip = {{"clip_skip", o["CLIP_stop_at_last_layers"]}};
            read_fields(generation_params(), r, clip, "override_settings.CLIP_stop_at_last_layers/");
        }
        if (o.contains("sd_vae") && o["sd_vae"].is_string()) {
            const std::string v = o["sd_vae"].get<std::string>();
            r.vae = v == "Automatic" || v == "None" ? "" : v;
        }
    }
    if (r.vae == "Automatic" || r.vae == "None") r.vae.clear();
    // ControlNet units, in the layout of A1111's ControlNet extension
    if (fields.contains("alwayson_scripts") && fields["alwayson_scripts"].is_object()) {
        const json& scripts = fields["alwayson_scripts"];
        for (const auto& [name, script] : scripts.items()) {
            if (name != "controlnet" && name != "ControlNet")
                throw ApiError{422, "alwayson_scripts." + name, "alwayson_scripts." + name + ": sdref knows only the controlnet script"};
            if (!script.is_object() || !script.contains("args") || !script["args"].is_array())
                throw ApiError{422, "alwayson_scripts.controlnet.args", "alwayson_scripts.controlnet.args: expected a list of units"};
            const json& units = script["args"];
            for (size_t i = 0; i < units.size(); ++i) {
                const std::string prefix = "alwayson_scripts.controlnet.args[" + std::to_string(i) + "].";
                if (!units[i].is_object()) throw ApiError{422, prefix, prefix + ": expected an object"};
                json unit = units[i];
                if (!unit.contains("image") && unit.contains("input_image")) unit["image"] = unit["input_image"];
                ControlRequest c = with_defaults(control_params(), Origin::Api);
                read_fields(control_params(), c, unit, prefix);
                if (!c.enabled || c.model.empty() || c.model == "None") continue;
                if (!c.image.given()) throw ApiError{422, prefix + "image", prefix + "image: the unit has no control image"};
                r.controls.push_back(std::move(c));
            }
        }
    }
    return r;
}

GenerationRequest openai_request(const json& body) {
    GenerationRequest r = with_defaults(generation_params(), Origin::Api);
    // OpenAI's API has no steps, sampler or guidance: the model's, as on the command line
    r.steps = 0;
    r.sampler.clear();
    r.cfg_scale = std::numeric_limits<double>::quiet_NaN();
    if (!body.contains("prompt") || !body["prompt"].is_string()) throw ApiError{422, "prompt", "prompt: required (text)"};
    r.prompt = body["prompt"].get<std::string>();
    if (body.contains("n") && !body["n"].is_null()) {
        json n = {{"batch_size", body["n"]}};
        read_fields(generation_params(), r, n, "n/");
    }
    if (body.contains("size") && body["size"].is_string()) {
        const std::string s = body["size"].get<std::string>();
        const size_t x = s.find('x');
        if (x == std::string::npos) throw ApiError{422, "size", "size: expected WIDTHxHEIGHT, got \"" + s + "\""};
        json wh = {{"width", s.substr(0, x)}, {"height", s.substr(x + 1)}};
        read_fields(generation_params(), r, wh, "size/");
    }
    if (body.contains("response_format") && body["response_format"] != "b64_json")
        throw ApiError{422, "response_format", "response_format: sdref returns b64_json only"};
    if (body.contains("model") && body["model"].is_string()) r.model = body["model"].get<std::string>();
    return r;
}

std::string png_base64(const GeneratedImage& image) { return b64_png(image.image, image.parameters); }

json txt2img_response(const GenerationRequest& r, const std::vector<GeneratedImage>& images, bool interrupted) {
    json out;
    out["images"] = json::array();
    json seeds = json::array(), infotexts = json::array(), prompts = json::array(), negatives = json::array();
    for (const GeneratedImage& img : images) {
        out["images"].push_back(png_base64(img));
        seeds.push_back(img.seed);
        infotexts.push_back(img.parameters);
        prompts.push_back(r.prompt);
        negatives.push_back(r.negative_prompt);
    }
    out["parameters"] = request_json(r);
    json info = request_json(r);
    info["all_prompts"] = prompts;
    info["all_negative_prompts"] = negatives;
    info["all_seeds"] = seeds;
    info["infotexts"] = infotexts;
    info["index_of_first_image"] = 0;
    info["sd_model_name"] = r.model;
    info["interrupted"] = interrupted;
    info["version"] = "sdref";
    out["info"] = info.dump();
    return out;
}

json openai_response(const GenerationRequest& r, const std::vector<GeneratedImage>& images) {
    json data = json::array();
    for (const GeneratedImage& img : images) data.push_back({{"b64_json", png_base64(img)}, {"revised_prompt", r.prompt}});
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return {{"created", std::chrono::duration_cast<std::chrono::seconds>(now).count()}, {"data", data}};
}

json params_table() {
    json rows = json::array();
    auto add = [&](const auto& table, const char* group) {
        for (const auto& p : table)
            rows.push_back({{"group", group},
                            {"flag", p.flag ? json(p.flag) : json(nullptr)},
                            {"field", p.field ? json(p.field) : json(nullptr)},
                            {"png", p.png ? json(p.png) : json(nullptr)},
                            {"default", p.api_def ? p.api_def : p.def},
                            {"min", p.lo},
                            {"max", p.hi},
                            {"help", p.help}});
    };
    add(generation_params(), "generation");
    add(control_params(), "controlnet");
    json samplers = json::array();
    for (const SamplerNames& s : sampler_table()) samplers.push_back({{"name", s.a1111}, {"sdref", s.name}, {"karras", s.karras}});
    json schedulers = json::array({"Automatic"});
    for (const std::string& n : schedule_names())
        if (n != "discrete") schedulers.push_back(n);
    return {{"params", rows}, {"samplers", samplers}, {"schedulers", schedulers}};
}

ExtrasRequest extras_request(const json& body) {
    ExtrasRequest r;
    if (!body.contains("image") || !body["image"].is_string() || body["image"].get<std::string>().empty())
        throw ApiError{422, "image", "image: expected a base64 picture"};
    std::string text = body["image"].get<std::string>();
    const size_t comma = text.rfind(',');
    if (text.compare(0, 5, "data:") == 0 && comma != std::string::npos) text = text.substr(comma + 1);
    try {
        const std::vector<uint8_t> bytes = base64_decode(text, "image");
        r.image = decode_image(bytes.data(), bytes.size(), 3, "image");
        try {
            for (const auto& [k, v] : png_text(bytes.data(), bytes.size(), "image"))
                if (k == "parameters") r.parameters = v;
        } catch (const Error&) {  // (not a PNG: no parameters)
        }
    } catch (const Error& e) {
        throw ApiError{422, "image", e.what()};
    }
    auto number = [&](const char* field, double lo, double hi, double def) {
        if (!body.contains(field) || body[field].is_null()) return def;
        if (!body[field].is_number()) throw ApiError{422, field, std::string(field) + ": expected a number"};
        const double v = body[field].get<double>();
        if (!(v >= lo && v <= hi)) throw ApiError{422, field, cat(field, ": ", v, " is outside ", lo, " to ", hi)};
        return v;
    };
    auto string = [&](const char* field) {
        if (!body.contains(field) || body[field].is_null()) return std::string();
        if (!body[field].is_string()) throw ApiError{422, field, std::string(field) + ": expected a string"};
        return body[field].get<std::string>();
    };
    r.upscaler = string("upscaler_1");
    if (r.upscaler == "None") r.upscaler.clear();
    const int mode = int(number("resize_mode", 0, 1, 0));
    r.scale = number("upscaling_resize", 1, 16, 2);
    if (mode == 1) {
        r.width = int64_t(number("upscaling_resize_w", 8, 8192, 512));
        r.height = int64_t(number("upscaling_resize_h", 8, 8192, 512));
    }
    for (const char* unsupported : {"gfpgan_visibility", "codeformer_visibility", "extras_upscaler_2_visibility"})
        if (number(unsupported, 0, 1, 0) != 0) throw ApiError{422, unsupported, std::string(unsupported) + ": not supported by sdref (0 only)"};
    if (const std::string second = string("upscaler_2"); !second.empty() && second != "None")
        throw ApiError{422, "upscaler_2", "upscaler_2: a second upscaler is not supported by sdref (None only)"};
    return r;
}

namespace {

const json& animation_object(const json& body) {
    static const json empty = json::object();
    if (!body.contains("animation") || body["animation"].is_null()) return empty;
    if (!body["animation"].is_object()) throw ApiError{422, "animation", "animation: expected an object"};
    return body["animation"];
}

}  // namespace

AnimationSettings animation_settings(const json& body) {
    const json& a = animation_object(body);
    AnimationSettings s;
    auto text = [&](const char* field, std::string& into) {
        if (!a.contains(field) || a[field].is_null()) return;
        if (!a[field].is_string()) throw ApiError{422, std::string("animation.") + field, std::string("animation.") + field + ": expected a string"};
        into = a[field].get<std::string>();
    };
    if (a.contains("frames") && !a["frames"].is_null()) {
        if (!a["frames"].is_number_integer() || a["frames"].get<int64_t>() < 1)
            throw ApiError{422, "animation.frames", "animation.frames: expected a whole number of at least 1"};
        s.frames = a["frames"].get<int64_t>();
    }
    text("zoom", s.zoom), text("angle", s.angle), text("translation_x", s.translation_x), text("translation_y", s.translation_y);
    text("strength_schedule", s.strength), text("cfg_schedule", s.cfg), text("noise_schedule", s.noise);
    text("seed_behavior", s.seed_behavior), text("border", s.border), text("color_coherence", s.color_coherence);
    return s;
}

double animation_fps(const json& body) {
    const json& a = animation_object(body);
    if (!a.contains("fps") || a["fps"].is_null()) return 12;
    if (!a["fps"].is_number() || !(a["fps"].get<double>() > 0 && a["fps"].get<double>() <= 240))
        throw ApiError{422, "animation.fps", "animation.fps: expected a number in (0, 240]"};
    return a["fps"].get<double>();
}

json png_info(const json& body) {
    if (!body.contains("image") || !body["image"].is_string()) throw ApiError{422, "image", "image: expected a base64 PNG"};
    std::string text = body["image"].get<std::string>();
    const size_t comma = text.rfind(',');
    if (text.compare(0, 5, "data:") == 0 && comma != std::string::npos) text = text.substr(comma + 1);
    std::vector<std::pair<std::string, std::string>> chunks;
    try {
        const std::vector<uint8_t> bytes = base64_decode(text, "image");
        chunks = png_text(bytes.data(), bytes.size(), "image");
    } catch (const Error& e) {
        throw ApiError{422, "image", e.what()};
    }
    json items = json::object(), parameters = json::object();
    std::string info;
    for (const auto& [k, v] : chunks) {
        if (k == "parameters") info = v;
        else items[k] = v;
    }
    if (!info.empty())
        for (const auto& [k, v] : parse_png_parameters(info)) parameters[k] = v;
    return {{"info", info}, {"items", items}, {"parameters", parameters}};
}

}  // namespace sdref::api
