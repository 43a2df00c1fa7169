// sdref inspect: list the tensors (name, dtype, shape) and metadata of a safetensors file, after validating it.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "io/safetensors.h"

namespace sdref::cli {

int cmd_inspect(int argc, char** argv) {
    Args args(argc, argv, 2);
    if (args.done()) fail("inspect: missing FILE.safetensors");
    const std::string path = args.next();
    if (!args.done()) fail("inspect: unexpected argument \"", args.peek(), "\"");
    const SafetensorsFile file(path);
    for (const auto& [key, value] : file.metadata()) std::printf("metadata %s: %s\n", key.c_str(), value.c_str());
    size_t bytes = 0;
    for (const TensorView& t : file.tensors()) {
        std::printf("%s %s %s\n", t.name.c_str(), dtype_name(t.dtype), shape_str(t.shape).c_str());
        bytes += t.nbytes;
    }
    std::printf("%zu tensors, %zu bytes of data\n", file.tensors().size(), bytes);
    return 0;
}

}  // namespace sdref::cli
