// params.h: the one table of generation parameters. Each row is one setting: its command-line flag, its JSON
// field in the HTTP API (A1111's name), its key in a PNG's "parameters" text (A1111's infotext), its default, its
// range and its help. The CLI parser, the API's request reader and response echo, the PNG writer, `sdref -h` and
// the web page's form (GET /sdref/v1/params) all read these rows; nothing else lists the parameters.
//
// Rows point at members through small accessor functions, so one table can describe GenerationRequest,
// ControlRequest (a ControlNet unit) or Folders. Every value is read from text (a flag's argument, a JSON scalar
// written out, a PNG value) by one function per member type, so the range checks and error messages are the same
// whichever front end the value came through.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "app/request.h"

namespace sdref {

using ParamRef = std::variant<int64_t*, double*, std::string*, bool*, IntPair*, ImageInput*, std::vector<std::string>*>;

// Which front end a value came through: images are files on the command line and base64 in the API.
enum class Origin { Cli, Api };

// When a row is written into a PNG's parameters: always (Steps, Seed...), when it differs from its default, only
// when something is denoised from a picture (Denoising strength: img2img, inpainting, the hires fix), only with
// the hires fix (Hires upscale...) or only with a refiner (Refiner switch at).
enum class PngRule { Always, Changed, WithDenoising, WithHires, WithRefiner };

template <class T>
struct Param {
    const char* flag;        // "--steps"; nullptr: not on the command line
    const char* alias;       // another spelling: a short flag ("-s"), or a second long one; nullptr: none
    const char* field;       // the API's JSON field ("steps"); nullptr: not in the API
    const char* png;         // the PNG parameters key ("Steps"); nullptr: not written there
    const char* metavar;     // the help's name for the value ("N", "X", "FILE", "W,H"); "" for a flag without value
    const char* def;         // the default as text ("" for none; numbers: "" means unset, NaN or -1)
    const char* api_def;     // A1111's API default where it differs from the command line's (steps 50), else nullptr
    double lo, hi;           // numbers and pairs: the accepted range, both ends included
    const char* help;
    ParamRef (*ref)(T&);
    // Names only: the canonical spelling of a value, or an sdref::Error naming `name` and the valid values.
    std::string (*normalize)(const std::string& value, const std::string& name) = nullptr;
    PngRule png_rule = PngRule::Changed;
    // The PNG value where it is not the member's text (Sampler: A1111's name; Size: WxH; Model: the file's stem).
    std::string (*png_text)(const T&) = nullptr;
};

const std::vector<Param<GenerationRequest>>& generation_params();
const std::vector<Param<ControlRequest>>& control_params();
const std::vector<Param<Folders>>& folder_params();

// ---- reading values --------------------------------------------------------------------------------------

// Set the member `ref` from text; `name` (the flag or field) is what errors call it. Numbers are checked against
// [lo, hi]; images are read from a file (Cli) or decoded from base64 (Api); a list gains one entry.
void set_param(const ParamRef& ref, const std::string& text, const std::string& name, double lo, double hi,
               std::string (*normalize)(const std::string&, const std::string&), Origin origin);
// The member as text, the way a default is written (images: their source; lists: comma-separated).
std::string param_text(const ParamRef& ref);

template <class T>
void set_param(const Param<T>& p, T& obj, const std::string& text, const std::string& name, Origin origin) {
    set_param(p.ref(obj), text, name, p.lo, p.hi, p.normalize, origin);
}

// Every member from its row's default (`origin` Api: A1111's default where it has its own).
template <class T>
void apply_defaults(const std::vector<Param<T>>& table, T& obj, Origin origin) {
    for (const Param<T>& p : table) {
        const ParamRef r = p.ref(obj);
        const std::string def = origin == Origin::Api && p.api_def ? p.api_def : p.def;
        if (auto* s = std::get_if<std::string*>(&r)) **s = p.normalize && !def.empty() ? p.normalize(def, "default") : def;
        else if (auto* l = std::get_if<std::vector<std::string>*>(&r)) (*l)->clear();
        else if (auto* i = std::get_if<ImageInput*>(&r)) (*i)->source.clear(), (*i)->image = {};
        else set_param(r, def, p.flag ? p.flag : p.field, -1e300, 1e300, nullptr, origin);
    }
}

template <class T>
T with_defaults(const std::vector<Param<T>>& table, Origin origin) {
    T obj{};
    apply_defaults(table, obj, origin);
    return obj;
}

// The row whose flag (or short flag) is `flag`, or nullptr.
template <class T>
const Param<T>* find_flag(const std::vector<Param<T>>& table, const std::string& flag) {
    for (const Param<T>& p : table)
        if ((p.flag && flag == p.flag) || (p.alias && flag == p.alias)) return &p;
    return nullptr;
}

template <class T>
const Param<T>* find_field(const std::vector<Param<T>>& table, const std::string& field) {
    for (const Param<T>& p : table)
        if (p.field && field == p.field) return &p;
    return nullptr;
}

// ---- writing them ----------------------------------------------------------------------------------------

// One `sdref -h` line: flag and value name, then the help (and the default, when there is one), wrapped at 110.
std::string usage_line(const char* flag, const char* alias, const char* metavar, const char* help, const char* def);

template <class T>
std::string usage_lines(const std::vector<Param<T>>& table) {
    std::string out;
    for (const Param<T>& p : table)
        if (p.flag) out += usage_line(p.flag, p.alias, p.metavar, p.help, p.def);
    return out;
}

// A1111's infotext: the prompt, "Negative prompt: ...", then "Steps: 20, Sampler: Euler a, ..." from the rows
// with a PNG key, for the image with seed `seed`. `extra` (add-on hashes, safety-checker verdict) is appended.
std::string png_parameters(const GenerationRequest& r, int64_t seed, const std::string& model_name, const std::string& extra);

// An infotext read back into (key, value) pairs: "Prompt", "Negative prompt", then every "Key: value" of the last
// line (quoted values unquoted); "Size" also as "Size-1" and "Size-2", as A1111's PNG Info gives it.
std::vector<std::pair<std::string, std::string>> parse_png_parameters(const std::string& text);

// ---- names -----------------------------------------------------------------------------------------------

// Whether a file's extension is one weights come in (.safetensors, .ckpt, .pt, .pth, .bin).
bool has_weight_extension(const std::string& path);
// The name A1111 gives a model or add-on file: the file name without a weights extension (a folder: its name).
std::string model_name_of(const std::string& path);

// A sampler by sdref's, A1111's ("DPM++ 2M", "Euler a", "DPM++ 2M Karras") or k-diffusion's (k_euler_a) name:
// sdref's name, with " karras" appended when A1111's name carries the schedule.
std::string normalize_sampler(const std::string& value, const std::string& name);
// The matrix products' precision: "fp32" or "bf16" (any case).
std::string normalize_precision(const std::string& value, const std::string& name);
// A schedule by sdref's (discrete, karras, trailing) or A1111's name (Automatic, Karras, SGM Uniform).
std::string normalize_schedule(const std::string& value, const std::string& name);

}  // namespace sdref
