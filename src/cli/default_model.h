// default_model.h: where `sdref` finds its demo model (TinyShapes, models/tinyshapes.safetensors) when no -m is
// given. The build copies the file beside the binary and `make install` puts it in share/sdref, so the command
// works from any directory.
#pragma once

#include <string>

namespace sdref::cli {

constexpr const char* kDefaultModelFile = "tinyshapes.safetensors";

// The first of <binary's folder>/tinyshapes.safetensors and <binary's folder>/../share/sdref/tinyshapes.safetensors
// that exists; a clear error listing the places looked in when neither does.
std::string default_model_path();

}  // namespace sdref::cli
