// libFuzzer harness: A1111 prompt weighting and the CLIP tokenizer on arbitrary text (any bytes, any brackets).
#include <cstdint>
#include <string>

#include "core/error.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_weighting.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string prompt(reinterpret_cast<const char*>(data), size);
    try {
        const sdref::ClipTokenizer& tok = sdref::ClipTokenizer::builtin();
        for (const sdref::PromptChunk& c : sdref::tokenize_weighted(tok, prompt, sdref::ClipTokenizer::kPadSd1))
            if (c.ids.size() != c.weights.size()) __builtin_trap();
    } catch (const sdref::Error&) {
    }
    return 0;
}
