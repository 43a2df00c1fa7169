// conditioning.h: what a denoiser is conditioned on for one prompt, whatever the family: a sequence of text
// features (cross-attention context, or the text tokens of a joint transformer) and, for some families, one
// vector (SDXL's pooled text + micro-conditioning).
#pragma once

#include "core/tensor.h"

namespace sdref {

struct Conditioning {
    Tensor context;  // [77 k, context_dim] the cross-attention context (k 77-token chunks)
    Tensor vector;   // [adm_in_channels] label_emb's input y (SDXL), empty otherwise
};

}  // namespace sdref
