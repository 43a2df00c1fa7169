#include "cli/default_model.h"

#include <unistd.h>

#include <climits>
#include <vector>

#include "core/error.h"
#include "io/mapped_file.h"

namespace sdref::cli {

namespace {

// The folder of the running binary (Linux: /proc/self/exe), or "" where it cannot be found.
std::string binary_folder() {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "";
    const std::string exe(buf, size_t(n));
    const size_t slash = exe.rfind('/');
    return slash == std::string::npos ? "" : exe.substr(0, slash);
}

std::vector<std::string> default_model_candidates() {
    const std::string dir = binary_folder();
    if (dir.empty()) return {};
    return {dir + "/" + kDefaultModelFile, dir + "/../share/sdref/" + kDefaultModelFile};
}

}  // namespace

std::string default_model_path() {
    const std::vector<std::string> candidates = default_model_candidates();
    std::string looked;
    for (const std::string& c : candidates) {
        if (path_exists(c)) return c;
        looked += (looked.empty() ? "" : ", ") + c;
    }
    fail("-m/--model: no model given, and the demo model ", kDefaultModelFile, " is not installed beside sdref (looked in ",
         looked.empty() ? "no place: the binary's folder is unknown" : looked, "); give a checkpoint with -m");
}

}  // namespace sdref::cli
