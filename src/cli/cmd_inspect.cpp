// sdref inspect [--check] MODEL: list the tensors (name, dtype, shape) and metadata of a safetensors file, after
// validating it; --check scans every tensor of a file or of every .safetensors file in a model folder for NaN
// and Inf values instead, lists the tensors that hold any, and exits non-zero when there are some.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "io/tensor_file.h"

namespace sdref::cli {

namespace {

// The .safetensors files of a model: the file itself, or every one under a folder, in name order.
std::vector<std::string> model_files(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) fail(path, ": no such file or folder");
    if (!S_ISDIR(st.st_mode)) return {path};
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path))
        if (e.is_regular_file() && (e.path().extension() == ".safetensors" || e.path().extension() == ".ckpt" || e.path().extension() == ".pt" || e.path().extension() == ".bin"))
            files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) fail(path, ": no .safetensors, .ckpt, .pt or .bin files in this folder");
    return files;
}

int check(const std::string& path) {
    size_t tensors = 0, bad = 0;
    for (const std::string& f : model_files(path)) {
        const std::unique_ptr<TensorFile> file = open_tensor_file(f);
        for (const TensorView& t : file->tensors()) {
            ++tensors;
            if (const int64_t n = t.count_non_finite()) {
                ++bad;
                std::printf("%s: %s %s %s: %lld of %lld values are NaN or Inf\n", f.c_str(), t.name.c_str(),
                            dtype_name(t.dtype), shape_str(t.shape).c_str(), (long long)n, (long long)t.numel());
            }
        }
    }
    if (bad) {
        std::fprintf(stderr, "sdref: error: %s: %zu of %zu tensors hold NaN or Inf values\n", path.c_str(), bad, tensors);
        return 1;
    }
    std::printf("%s: all %zu tensors are finite\n", path.c_str(), tensors);
    return 0;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
    Args args(argc, argv, 2);
    bool scan = false;
    if (!args.done() && args.peek() == "--check") scan = (args.next(), true);
    if (args.done()) fail("inspect: missing MODEL (a .safetensors or PyTorch file", scan ? " or a model folder)" : ")");
    const std::string path = args.next();
    if (!args.done()) fail("inspect: unexpected argument \"", args.peek(), "\"");
    if (scan) return check(path);
    const std::unique_ptr<TensorFile> file = open_tensor_file(path);
    for (const auto& [key, value] : file->metadata()) std::printf("metadata %s: %s\n", key.c_str(), value.c_str());
    size_t bytes = 0;
    for (const TensorView& t : file->tensors()) {
        std::printf("%s %s %s\n", t.name.c_str(), dtype_name(t.dtype), shape_str(t.shape).c_str());
        bytes += t.nbytes;
    }
    std::printf("%zu tensors, %zu bytes of data\n", file->tensors().size(), bytes);
    return 0;
}

}  // namespace sdref::cli
