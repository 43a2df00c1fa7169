// fuzz_api: the HTTP API's request handling (src/server/api.cpp) on arbitrary bodies. The first byte picks the
// endpoint (txt2img, img2img, OpenAI images, PNG Info); the rest is the body. Every refusal must be an
// api::ApiError (a 4xx with a JSON error): any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const sdref::api::json j = sdref::api::parse_body(body);
        switch (data[0] % 4) {
            case 0: (void)sdref::api::txt2img_request(j, false); break;
            case 1: (void)sdref::api::txt2img_request(j, true); break;
            case 2: (void)sdref::api::openai_request(j); break;
            default: (void)sdref::api::png_info(j); break;
        }
    } catch (const sdref::api::ApiError& e) {
        if (e.status < 400 || e.status >= 500 || e.message.empty()) __builtin_trap();
    }
    return 0;
}
