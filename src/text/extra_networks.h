// extra_networks.h: A1111's extra-network tags in a prompt, "<lora:NAME:WEIGHT>" and "<hypernet:NAME:WEIGHT>"
// (WEIGHT optional, 1 by default). They name add-ons to load, not words to draw: they are taken out of the prompt
// before it is encoded.
#pragma once

#include <string>
#include <vector>

namespace sdref {

struct ExtraNetwork {
    std::string kind;   // "lora", "hypernet"
    std::string name;   // the file's name without its extension
    float weight = 1.0f;
};

// The tags of `prompt`, in order; `prompt` is left without them. A malformed tag ("<lora:>" or a weight that is
// not a number) is an error quoting it.
std::vector<ExtraNetwork> take_extra_networks(std::string* prompt);

}  // namespace sdref
