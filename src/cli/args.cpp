#include "cli/args.h"

#include <cerrno>
#include <cmath>
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

long long Args::int_value(const std::string& flag, long long lo, long long hi) {
    const long long n = int_value(flag);
    if (n < lo || n > hi) fail(flag, " must be between ", lo, " and ", hi, ", got ", n);
    return n;
}

double Args::number_value(const std::string& flag, double lo, double hi, bool lo_open) {
    const std::string v = value(flag);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(x)) fail(flag, ": \"", v, "\" is not a number");
    if (x < lo || (lo_open && x == lo) || x > hi)
        fail(flag, " must be ", lo_open ? "above " : "between ", lo, lo_open ? " and at most " : " and ", hi, ", got ", v);
    return x;
}

}  // namespace sdref::cli
