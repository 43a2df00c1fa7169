// conditioner.h: what the U-Net is conditioned on, one module per model family behind one interface.
//
//   SD 1.x (conditioner_sd1.cpp)   CLIP ViT-L          context = final_LN(last layer)          [77, 768]
//   SD 2.x (conditioner_sd2.cpp)   OpenCLIP ViT-H      context = final_LN(penultimate layer)   [77, 1024]
//   SDXL   (conditioner_sdxl.cpp)  CLIP ViT-L + OpenCLIP ViT-bigG
//                                  context = concat(penultimate_L, penultimate_G), no final LN [77, 768 + 1280]
//                                  y = [P final_LN(G)[end token], sin(orig h, w), sin(crop top, left), sin(target h, w)]
//   SDXL refiner (conditioner_sdxl_refiner.cpp)  OpenCLIP ViT-bigG alone
//                                  context = penultimate_G                                       [77, 1280]
//                                  y = [P final_LN(G)[end token], sin(orig h, w), sin(crop top, left), sin(aesthetic score)]
//
// Every family reads A1111's prompt syntax: weights, BREAK and prompts longer than 75 tokens (one 77-token chunk
// each, contexts concatenated; the pooled vector comes from the first chunk). The pipeline asks the model's
// conditioner and never branches on the family. docs/sdxl.md explains the micro-conditioning.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/json.h"
#include "models/clip_text.h"
#include "models/embedding.h"
#include "models/family.h"
#include "models/unet.h"
#include "models/weights.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_weighting.h"

namespace sdref {

// SDXL's micro-conditioning (Podell et al. 2023, section 2.2): the size the training image had before it was
// resized, the crop taken from it, the size asked for, and (refiner) the aesthetic score it was rated with.
// Sizes in pixels; 0 means the image's own size (diffusers' defaults).
struct MicroConditioning {
    int64_t original_width = 0, original_height = 0;
    int64_t crop_left = 0, crop_top = 0;
    int64_t target_width = 0, target_height = 0;
    float aesthetic_score = 6.0f;           // refiner: the prompt's side
    float negative_aesthetic_score = 2.5f;  // refiner: the unconditional side
};

struct ConditioningOptions {
    int clip_skip = 0;                // A1111 numbering (1 = the last layer); 0: the family's default
    int64_t width = 0, height = 0;    // the image being made
    MicroConditioning micro;
    ForwardContext forward;           // precision; --low-memory: one text-encoder layer's weights resident at a time
    int max_sequence_length = 256;    // SD 3: T5's tokens (diffusers' max_sequence_length, 1 to 512)
};

class Conditioner {
public:
    virtual ~Conditioner() = default;
    // The conditioning of one prompt. negative: the unconditional side of classifier-free guidance (the negative
    // prompt), which some families treat differently (SDXL: an empty one is all zeros; refiner: its own score).
    virtual Conditioning encode(const std::string& prompt, bool negative, const ConditioningOptions& o) const = 0;
};

// Where a conditioner finds its weights and settings.
struct ConditionerSource {
    std::shared_ptr<const WeightStore> store;
    std::shared_ptr<const ClipTokenizer> tokenizer;  // nullptr: the built-in CLIP vocabulary
    const Json* text_config[3] = {nullptr, nullptr, nullptr};  // diffusers text_encoder/, _2/ and _3/ config.json
    int64_t vector_width = 0;                         // the U-Net's adm_in_channels (SDXL's y)
    int64_t context_width = 0;                        // the denoiser's text-token width (SD 3: T5's, the CLIP states padded to it)
    bool force_zeros_for_empty_prompt = true;         // SDXL base: model_index.json's flag (true by default)
    std::vector<TextualInversion> embeddings;         // textual inversions the prompts may use by name
    int pad_id = -1;                                  // a diffusers tokenizer's pad token id; -1: the family's
    bool skip_t5 = false;                             // SD 3: leave T5 out (--no-t5)
};

// --- shared by the conditioners ---

// Whether a CLIP text tower (Hugging Face or OpenCLIP names) sits under this embedder prefix.
bool has_text_encoder(const WeightStore& w, const std::string& embedder);
// The checkpoint's "text_config" metadata (null when absent).
Json text_config_metadata(const WeightStore& w);
// The settings of text encoder `index`: the diffusers config.json when the source has one, else the metadata's
// entry `key` ("clip_l", "clip_g"), else nullptr (CLIP's conventions).
const Json* encoder_settings(const ConditionerSource& s, int index, const Json& meta, const char* key);

// One prompt through one text encoder, A1111-weighted: each 77-token chunk encoded, its chosen layer's token
// embeddings scaled by their weights and the chunk rescaled to its original mean; chunks concatenated along the
// tokens [77 k, D]. pooled: final_LN(last layer) at the first chunk's end token [D].
struct EncodedPrompt {
    Tensor context, pooled;
};
// layer: the layer counted from the end (1 = last), final_norm: whether the final LayerNorm is applied to it.
EncodedPrompt encode_weighted(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder, const std::string& prompt,
                              int pad_id, int layer, bool final_norm, const ForwardContext& ctx, const std::vector<EmbeddingWord>& words);
// A1111's emphasis on one chunk's token states z [T, D]: z_t *= w_t, then z *= mean(z before) / mean(z after). Nothing
// changes when every weight is 1.
void emphasize(Tensor& z, const std::vector<float>& weights);
// Give every embedding its token ids in each encoder (the same ids in all of them, as their outputs are
// concatenated token by token): encoder i takes the embedding's vectors under keys[i] ("" for one encoder,
// "clip_l" / "clip_g" for SDXL's). An embedding without them, or of another width, is an error naming its file.
std::vector<EmbeddingWord> add_embeddings(const ClipTokenizer& tokenizer, const std::vector<TextualInversion>& embeddings,
                                          const std::vector<std::pair<ClipTextEncoder*, std::string>>& encoders);
// [a | b] row by row: [T, Da] and [T, Db] -> [T, Da + Db].
Tensor concat_features(const Tensor& a, const Tensor& b);
// The SDXL conditioning vector y = [pooled, sinusoid(v_1), ..., sinusoid(v_n)] of `width` values: each value gets
// (width - pooled) / n sinusoid features (diffusers' add_time_proj, flip_sin_to_cos, shift 0).
Tensor micro_vector(const Tensor& pooled, const std::vector<float>& values, int64_t width, const std::string& source);

}  // namespace sdref
