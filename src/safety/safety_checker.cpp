#include "safety/safety_checker.h"

#include <sys/stat.h>

#include <cmath>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/json.h"
#include "safety/clip_preprocess.h"

namespace sdref {

namespace {

// Python's round(x, 3) on a double: half to even at the third decimal.
double round3(double x) { return std::nearbyint(x * 1000.0) / 1000.0; }

// cos(a, b) = a . b / (max(|a|, 1e-12) max(|b|, 1e-12)), as F.normalize then a matrix product, in fp32.
float cosine(const float* a, const float* b, int64_t n) {
    float na = 0, nb = 0, dot = 0;
    for (int64_t i = 0; i < n; ++i) na += a[i] * a[i];
    for (int64_t i = 0; i < n; ++i) nb += b[i] * b[i];
    const float sa = std::max(std::sqrt(na), 1e-12f), sb = std::max(std::sqrt(nb), 1e-12f);
    for (int64_t i = 0; i < n; ++i) dot += (a[i] / sa) * (b[i] / sb);
    return dot;
}

}  // namespace

SafetyChecker SafetyChecker::load(const std::string& path) {
    SafetyChecker s;
    s.weights_ = std::make_shared<WeightStore>();
    struct stat st;
    const bool dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    s.weights_->add_file(dir ? path + "/model.safetensors" : path);
    const WeightStore& w = *s.weights_;
    int64_t heads = 0;
    if (const std::string meta = w.metadata("config"); !meta.empty())
        if (const Json* h = Json::parse(meta, path + " config metadata").find("num_attention_heads")) heads = h->as_int();
    if (dir) {
        struct stat cs;
        const std::string cfg = path + "/config.json";
        if (::stat(cfg.c_str(), &cs) == 0) {
            const Json j = Json::parse(read_text_file(cfg), cfg);
            if (const Json* v = j.find("vision_config"))
                if (const Json* h = v->find("num_attention_heads")) heads = h->as_int(cfg + ": vision_config.num_attention_heads");
        }
    }
    s.vision_ = std::make_shared<ClipVisionEncoder>(ClipVisionEncoder::load(s.weights_, "vision_model.vision_model.", heads));
    const int64_t D = s.vision_->config().width;
    const int64_t P = w.shape_of("visual_projection.weight").at(0);
    s.projection_ = w.matrix("visual_projection.weight", {P, D});
    const int64_t concepts = w.shape_of("concept_embeds").at(0), special = w.shape_of("special_care_embeds").at(0);
    s.concept_embeds_ = w.vector("concept_embeds", {concepts, P});
    s.concept_weights_ = w.vector("concept_embeds_weights", {concepts});
    s.special_embeds_ = w.vector("special_care_embeds", {special, P});
    s.special_weights_ = w.vector("special_care_embeds_weights", {special});
    return s;
}

SafetyResult SafetyChecker::check(const Image& image) const {
    const ForwardContext ctx;  // (fp32, the CPU: the checker's verdict does not depend on a generation's settings)
    SafetyResult r;
    r.clip_input = clip_preprocess(image, int(vision_->config().image_size));
    const Tensor pooled = vision_->forward(r.clip_input, ctx);
    const int64_t P = projection_.rows, D = projection_.cols;
    r.image_embeds = Tensor({P});
    ctx.ops().matmul(1, P, D, kernels::activations(pooled.data(), 1, D), kernels::weight_rows(projection_.data, projection_.type, D),
                     r.image_embeds.data(), P, {}, ctx.precision);
    double adjustment = 0.0;
    for (int64_t j = 0; j < special_embeds_.dim(0); ++j) {
        const float c = cosine(r.image_embeds.data(), special_embeds_.data() + j * P, P);
        r.cos_special.push_back(c);
        const double score = round3(double(c) - double(special_weights_[j]) + adjustment);
        r.special_scores.push_back(score);
        if (score > 0) adjustment = 0.01;
    }
    for (int64_t j = 0; j < concept_embeds_.dim(0); ++j) {
        const float c = cosine(r.image_embeds.data(), concept_embeds_.data() + j * P, P);
        r.cos_concept.push_back(c);
        const double score = round3(double(c) - double(concept_weights_[j]) + adjustment);
        r.concept_scores.push_back(score);
        if (score > 0) r.has_nsfw = true;
    }
    return r;
}

}  // namespace sdref
