#include "text/extra_networks.h"

#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace sdref {

std::vector<ExtraNetwork> take_extra_networks(std::string* prompt) {
    std::vector<ExtraNetwork> found;
    std::string& p = *prompt;
    for (size_t at = 0; (at = p.find('<', at)) != std::string::npos;) {
        const size_t colon = p.find(':', at), end = p.find('>', at);
        if (end == std::string::npos || colon == std::string::npos || colon > end) {
            ++at;
            continue;
        }
        const std::string kind = p.substr(at + 1, colon - at - 1);
        if (kind != "lora" && kind != "hypernet") {
            ++at;
            continue;
        }
        const std::string tag = p.substr(at, end - at + 1);
        const std::string body = p.substr(colon + 1, end - colon - 1);  // NAME[:WEIGHT[:...]]
        ExtraNetwork e;
        e.kind = kind;
        const size_t sep = body.find(':');
        e.name = body.substr(0, sep);
        if (e.name.empty()) fail("prompt: ", tag, " names no ", kind);
        if (sep != std::string::npos) {
            std::string w = body.substr(sep + 1);
            if (const size_t more = w.find(':'); more != std::string::npos) w = w.substr(0, more);  // A1111's te:unet form: te
            char* stop = nullptr;
            e.weight = std::strtof(w.c_str(), &stop);
            if (w.empty() || *stop != '\0' || !std::isfinite(e.weight)) fail("prompt: ", tag, ": \"", w, "\" is not a weight");
        }
        found.push_back(e);
        p.erase(at, end - at + 1);
    }
    return found;
}

}  // namespace sdref
