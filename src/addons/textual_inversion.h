// textual_inversion.h: textual-inversion embeddings (Gal et al. 2022): a few learned token vectors that stand
// for a word. Where the file's name appears in a prompt, its BPE tokens are replaced by the vectors, which enter the
// text encoder in place of token embeddings (position embeddings are added as for any token); prompt weights such
// as (name:1.2) apply to them like to any token.
//
// Files: A1111 .pt ({"string_to_param": {"*": [n, D]}, "name", "step", ...}, a pickle read without running code),
// A1111 .safetensors ("emb_params" [n, D]), diffusers learned_embeds ({"<token>": [D]}), SDXL ("clip_l" [n, 768] and
// "clip_g" [n, 1280]). At most 75 vectors (one chunk).
#pragma once

#include <string>

#include "models/embedding.h"

namespace sdref {

TextualInversion load_textual_inversion(const std::string& path);

}  // namespace sdref
