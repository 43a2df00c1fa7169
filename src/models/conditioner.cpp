#include "models/conditioner.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "io/mapped_file.h"
#include "models/blocks.h"
#include "text/prompt_weighting.h"

namespace sdref {

const std::vector<const FamilySpec*>& model_families() {
    static const std::vector<const FamilySpec*> families = {&sd3_family(), &sdxl_family(), &sdxl_refiner_family(), &sd2_family(),
                                                            &sd1_family()};
    return families;
}

const FamilySpec& detect_family(const WeightStore& w) {
    for (const FamilySpec* f : model_families())
        if (f->detect(w)) return *f;
    // what the file holds instead, by its top-level prefixes
    std::map<std::string, int> prefixes;
    for (const std::string& name : w.names()) {
        const size_t first = name.find('.');
        const size_t second = first == std::string::npos ? first : name.find('.', first + 1);
        ++prefixes[name.substr(0, second)];
    }
    std::string found;
    for (const auto& [prefix, count] : prefixes) found += (found.empty() ? "" : ", ") + prefix + ".* (" + std::to_string(count) + ")";
    fail(w.describe(), ": not a model layout sdref knows: no SD 1.x (cond_stage_model.transformer.*), SD 2.x "
         "(cond_stage_model.model.*), SDXL (conditioner.embedders.0 and .1) or SDXL refiner (conditioner.embedders.0.model.*) "
         "text encoder and no SD 3 transformer (model.diffusion_model.joint_blocks.*); found ", found.empty() ? "no tensors" : found);
}

const FamilySpec& folder_layout_family(const std::string& folder) {
    // (SD 1.x and 2.x share one layout: either serves, the tensors tell them apart afterwards)
    const std::vector<std::string> known = {"text_encoder", "text_encoder_2", "text_encoder_3"};
    for (const FamilySpec* f : model_families()) {
        bool match = is_directory(folder + "/" + f->diffusers_denoiser);
        for (const std::string& sub : known) {
            bool listed = false;
            for (const auto& [dir, prefix] : f->diffusers_text_encoders) listed |= dir == sub;
            match &= listed == is_directory(folder + "/" + sub);
        }
        if (match) return *f;
    }
    fail(folder, ": a diffusers folder whose text_encoder/, text_encoder_2/ and text_encoder_3/ subfolders match no model family "
                 "sdref knows beside its unet/ or transformer/ (SD 1.x/2.x: the first; SDXL: the first two; the refiner: the second; SD 3: all three)");
}

bool has_text_encoder(const WeightStore& w, const std::string& embedder) {
    return w.has(embedder + "transformer.text_model.embeddings.token_embedding.weight") ||
           w.has(embedder + "model.token_embedding.weight");
}

Json text_config_metadata(const WeightStore& w) {
    const std::string text = w.metadata("text_config");
    return text.empty() ? Json() : Json::parse(text, w.describe() + " text_config metadata");
}

const Json* encoder_settings(const ConditionerSource& s, int index, const Json& meta, const char* key) {
    if (s.text_config[index]) return s.text_config[index];
    return meta.is_object() ? meta.find(key) : nullptr;
}

EncodedPrompt encode_weighted(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder, const std::string& prompt,
                              int pad_id, int layer, bool final_norm, const ForwardContext& ctx, const std::vector<EmbeddingWord>& words) {
    const int64_t L = encoder.config().layers, D = encoder.config().width, T = ClipTokenizer::kContextLength;
    if (layer < 1 || layer > L) fail("--clip-skip must be between 1 and ", L, " for this text encoder, got ", layer);
    const std::vector<PromptChunk> chunks = tokenize_weighted(tokenizer, prompt, pad_id, words);
    EncodedPrompt out;
    out.context = Tensor({T * int64_t(chunks.size()), D});
    for (size_t c = 0; c < chunks.size(); ++c) {
        const ClipTextOutput o = encoder.forward(chunks[c].ids, ctx);
        if (c == 0) out.pooled = o.pooled;
        const Tensor& chosen = o.hidden[size_t(L - layer + 1)];
        Tensor z = !final_norm ? chosen : layer == 1 ? o.last_hidden : encoder.final_norm(chosen, ctx);
        emphasize(z, chunks[c].weights);
        std::copy_n(z.data(), T * D, out.context.data() + int64_t(c) * T * D);
    }
    return out;
}

void emphasize(Tensor& z, const std::vector<float>& weights) {
    bool weighted = false;
    for (float w : weights) weighted = weighted || w != 1.0f;
    if (!weighted) return;
    const int64_t T = z.dim(0), D = z.dim(1);
    double before = 0, after = 0;
    for (int64_t i = 0; i < z.numel(); ++i) before += z[i];
    for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d) z[t * D + d] *= weights[size_t(t)];
    for (int64_t i = 0; i < z.numel(); ++i) after += z[i];
    const float factor = float(before / after);
    for (int64_t i = 0; i < z.numel(); ++i) z[i] *= factor;
}

std::vector<EmbeddingWord> add_embeddings(const ClipTokenizer& tokenizer, const std::vector<TextualInversion>& embeddings,
                                          const std::vector<std::pair<ClipTextEncoder*, std::string>>& encoders) {
    std::vector<EmbeddingWord> words;
    for (const TextualInversion& e : embeddings) {
        EmbeddingWord word;
        word.word = tokenizer.encode(e.name);
        if (word.word.empty()) fail(e.path, ": the embedding's name \"", e.name, "\" has no tokens to stand for");
        int first = -1;
        for (const auto& [encoder, key] : encoders) {
            const auto it = e.vectors.find(key);
            if (it == e.vectors.end()) {
                std::string has;
                for (const auto& [k, v] : e.vectors) has += (has.empty() ? "" : ", ") + (k.empty() ? std::string("one encoder's") : k);
                fail(e.path, ": an embedding for another model family: this model needs ", key.empty() ? "one encoder's vectors" : key,
                     ", the file has ", has);
            }
            const int id = encoder->add_token_rows(it->second, e.path);
            if (first >= 0 && id != first) fail(e.path, ": the text encoders gave the embedding different token ids");
            first = id;
        }
        for (int64_t i = 0; i < e.vectors.begin()->second.dim(0); ++i) word.ids.push_back(first + int(i));
        words.push_back(std::move(word));
    }
    return words;
}

Tensor concat_features(const Tensor& a, const Tensor& b) {
    const int64_t T = a.dim(0), Da = a.dim(1), Db = b.dim(1);
    if (b.dim(0) != T) fail("text encoders: ", T, " and ", b.dim(0), " context rows do not line up");
    Tensor out({T, Da + Db});
    for (int64_t t = 0; t < T; ++t) {
        std::copy_n(a.data() + t * Da, Da, out.data() + t * (Da + Db));
        std::copy_n(b.data() + t * Db, Db, out.data() + t * (Da + Db) + Da);
    }
    return out;
}

Tensor micro_vector(const Tensor& pooled, const std::vector<float>& values, int64_t width, const std::string& source) {
    const int64_t P = pooled.numel(), n = int64_t(values.size());
    if (width <= P || (width - P) % n != 0)
        fail(source, ": the U-Net's label_emb takes ", width, " values, which is not the pooled text embedding (", P, ") plus ", n,
             " equal sinusoid embeddings");
    const int64_t each = (width - P) / n;
    Tensor y({width});
    std::copy_n(pooled.data(), P, y.data());
    for (int64_t i = 0; i < n; ++i) {
        const std::vector<float> s = timestep_embedding(values[size_t(i)], each);
        std::copy(s.begin(), s.end(), y.data() + P + i * each);
    }
    return y;
}

}  // namespace sdref
