// conditioner_sd3.h: SD 3's conditioning from its three text encoders (diffusers' StableDiffusion3Pipeline.encode_prompt):
//
//   clip   = cat(CLIP-L penultimate [77, Dl], CLIP-G penultimate [77, Dg]) along features, zero-padded to T5's width
//   context = cat(clip [77, Dt], T5 last hidden state [256, Dt]) along tokens               -> [333, Dt]
//   pooled  = cat(CLIP-L pooled · its projection, CLIP-G pooled · its projection)            -> [Dl' + Dg']
// The penultimate states are hidden_states[-2] (no final LayerNorm); a pooled vector is the final-LN state at the
// first end token. Without T5 the T5 part is zeros of [77, Dt] (77: the CLIP length, not 256).
// The family (sd3_family(), conditioner_sd3.cpp) reads its encoders at text_encoders.clip_l., text_encoders.clip_g. and
// text_encoders.t5xxl.transformer. (Hugging Face names, as Stability's single files and --clip-l/--clip-g/--t5xxl hold
// them); CLIP-L and CLIP-G are required, T5 is optional.
//
// Prompts, as diffusers' pipeline reads them (the reference the goldens hold), with A1111's weights on top:
//   CLIP-L, CLIP-G  [start] + the first 75 tokens + [end], padded (CLIP-L with the end token, CLIP-G with 0): longer
//                   prompts are cut, as diffusers cuts them; the rest reaches the model through T5
//   T5              the first max_sequence_length - 1 tokens + </s>, padded with <pad> (256 by default)
//   (word:1.2), (word), [word]   weight each token's states in every encoder, each encoder's states then rescaled to
//                   their original mean (A1111's emphasis); the pooled vectors are unweighted. BREAK is ignored.
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
