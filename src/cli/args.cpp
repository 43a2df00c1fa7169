#include "cli/args.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace sdref::cli {

Args::Args(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) args_.emplace_back(argv[i]);
}

std::string Args::value(const std::string& flag) {
    if (done()) fail(flag, " needs a value");
    return next();
}

long long Args::int_value(const std::string& flag) {
    const std::string v = value(flag);
    errno = 0;
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE) fail(flag, ": \"", v, "\" is not an integer");
    return n;
}

}  // namespace sdref::cli
