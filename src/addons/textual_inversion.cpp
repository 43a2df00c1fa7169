#include "addons/textual_inversion.h"

#include <filesystem>
#include <memory>

#include "core/error.h"
#include "io/tensor_file.h"

namespace sdref {

namespace {

constexpr int64_t kMaxVectors = 75;

Tensor as_rows(const TensorView& v, const std::string& path) {
    Tensor t = v.to_f32();
    if (t.shape().size() == 1) t.reshape({1, t.numel()});
    if (t.shape().size() != 2 || t.dim(0) < 1 || t.dim(0) > kMaxVectors)
        fail(path, ": embedding \"", v.name, "\" is ", shape_str(v.shape), ": expected [n, width] with 1 to ", kMaxVectors, " vectors");
    return t;
}

}  // namespace

TextualInversion load_textual_inversion(const std::string& path) {
    TextualInversion e;
    e.path = path;
    e.name = std::filesystem::path(path).stem().string();
    const std::unique_ptr<TensorFile> file = open_tensor_file(path);
    const std::vector<TensorView>& t = file->tensors();
    if (const TensorView* l = file->find("clip_l")) {  // SDXL
        const TensorView* g = file->find("clip_g");
        if (!g) fail(path, ": an SDXL embedding with clip_l but no clip_g");
        e.vectors["clip_l"] = as_rows(*l, path);
        e.vectors["clip_g"] = as_rows(*g, path);
        if (e.vectors["clip_l"].dim(0) != e.vectors["clip_g"].dim(0)) fail(path, ": clip_l and clip_g hold different numbers of vectors");
    } else if (const TensorView* p = file->find("emb_params")) {  // A1111 safetensors
        e.vectors[""] = as_rows(*p, path);
    } else {
        // A1111 .pt: string_to_param.<token>; diffusers: a single {"<token>": vector}
        std::vector<const TensorView*> params;
        for (const TensorView& v : t)
            if (v.name.rfind("string_to_param.", 0) == 0) params.push_back(&v);
        if (params.empty() && t.size() == 1) params.push_back(&t[0]);
        if (params.size() != 1) {
            std::string names;
            for (const TensorView& v : t) names += (names.empty() ? "" : ", ") + v.name;
            fail(path, ": not a textual-inversion embedding sdref knows (emb_params, string_to_param, clip_l/clip_g, or one "
                       "token's vector); it holds: ", names.empty() ? "no tensors" : names);
        }
        e.vectors[""] = as_rows(*params[0], path);
    }
    return e;
}

}  // namespace sdref
