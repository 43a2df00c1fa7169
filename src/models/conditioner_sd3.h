// conditioner_sd3.h: SD 3's conditioning from its three text encoders (diffusers' StableDiffusion3Pipeline.encode_prompt):
//
//   clip   = cat(CLIP-L penultimate [77, Dl], CLIP-G penultimate [77, Dg]) along features, zero-padded to T5's width
//   context = cat(clip [77, Dt], T5 last hidden state [256, Dt]) along tokens               -> [333, Dt]
//   pooled  = cat(CLIP-L pooled · its projection, CLIP-G pooled · its projection)            -> [Dl' + Dg']
// The penultimate states are hidden_states[-2] (no final LayerNorm); a pooled vector is the final-LN state at the
// first end token. Without T5 the T5 part is zeros of [77, Dt] (77: the CLIP length, not 256).
// The family (FamilySpec, the Conditioner, the MMDiT denoiser) is not wired yet: this is its assembly, tested alone.
#pragma once

#include "core/tensor.h"

namespace sdref {

struct Sd3Conditioning {
    Tensor context;  // [77 + T, Dt]
    Tensor pooled;   // [Pl + Pg]
};

// t5: the T5 encoder's output [T, Dt], or empty (no T5: zeros of [77, t5_width]).
Sd3Conditioning assemble_sd3_conditioning(const Tensor& clip_l_penultimate, const Tensor& clip_g_penultimate, const Tensor& clip_l_pooled,
                                          const Tensor& clip_g_pooled, const Tensor& t5, int64_t t5_width);

}  // namespace sdref
