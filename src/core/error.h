// error.h: the one error type of sdref.
//
// Every failure a user can cause (a bad file, a bad flag, a malformed checkpoint) throws sdref::Error with a
// message that names the file, tensor or flag. The command prints it on one line and exits non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace sdref {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Concatenate anything printable into one string: cat("tensor ", name, " has ", n, " values").
template <typename... Parts>
std::string cat(const Parts&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    return out.str();
}

// Throw sdref::Error with the concatenated message.
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    throw Error(cat(parts...));
}

}  // namespace sdref
