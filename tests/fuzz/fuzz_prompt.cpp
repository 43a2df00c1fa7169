// libFuzzer harness: A1111 prompt weighting, the CLIP tokenizer and T5's (SD 3) on arbitrary text (any bytes, any
// brackets).
#include <cstdint>
#include <string>

#include "core/error.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_weighting.h"
#include "text/t5_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string prompt(reinterpret_cast<const char*>(data), size);
    try {
        const sdref::ClipTokenizer& tok = sdref::ClipTokenizer::builtin();
        for (const sdref::PromptChunk& c : sdref::tokenize_weighted(tok, prompt, sdref::ClipTokenizer::kPadSd1))
            if (c.ids.size() != c.weights.size()) __builtin_trap();
    } catch (const sdref::Error&) {
    }
    try {
        const sdref::T5Tokenizer& t5 = sdref::T5Tokenizer::builtin();
        for (int id : t5.encode(prompt))
            if (id < 0 || id >= 32100) __builtin_trap();
        if (t5.encode_padded(prompt, 256).size() != 256) __builtin_trap();
    } catch (const sdref::Error&) {
    }
    return 0;
}
