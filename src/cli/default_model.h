// default_model.h: where `sdref` finds its demo model (TinyShapes, models/tinyshapes.safetensors) when no -m is
// given. The build copies the file beside the binary and `make install` puts it in share/sdref, so the command
// works from any directory.
#pragma once

#include <string>
#include <vector>

namespace sdref::cli {

constexpr const char* kDefaultModelFile = "tinyshapes.safetensors";

// The places looked in, in order: <binary's folder>/tinyshapes.safetensors, <binary's folder>/../share/sdref/...
std::vector<std::string> default_model_candidates();

// The first candidate that exists; a clear error listing the places looked in when none does.
std::string default_model_path();

}  // namespace sdref::cli
