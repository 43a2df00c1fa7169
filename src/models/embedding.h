// embedding.h: a textual-inversion embedding (Gal et al. 2022) as the conditioners use it: a few learned token
// vectors that stand for a word. Reading the files is an add-on's job (addons/textual_inversion.h).
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace sdref {

struct TextualInversion {
    std::string name;                     // the word: the file's name without its extension
    std::string path;
    std::map<std::string, Tensor> vectors;  // "" (one text encoder), or "clip_l" and "clip_g" (SDXL): [n, D]
};

}  // namespace sdref
