// args.h: the small argument reader shared by the sdref subcommands (values are checked by the parameter tables
// of src/app/params.h). A bad flag or value is an sdref::Error naming the flag.
#pragma once

#include <string>
#include <vector>

namespace sdref::cli {

class Args {
public:
    Args(int argc, char** argv, int first);

    bool done() const { return pos_ >= args_.size(); }
    const std::string& peek() const { return args_[pos_]; }
    std::string next() { return args_[pos_++]; }
    // The value after flag `flag` (already consumed); errors when it is missing.
    std::string value(const std::string& flag);
    long long int_value(const std::string& flag);

private:
    std::vector<std::string> args_;
    size_t pos_ = 0;
};

}  // namespace sdref::cli
