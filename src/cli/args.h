// args.h: the small argument reader shared by the sdref subcommands (values are checked by the parameter tables
// of src/app/params.h). A bad flag or value is an sdref::Error naming the flag.
#pragma once

#include <string>
#include <vector>

#include "app/params.h"
#include "core/error.h"

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

// A generation setting a long-running command (serve, worker) applies to every request: the generation table's
// row (flag, value, default, range, help, spelling), read into the command's own options.
template <class T>
Param<T> for_every_request(const char* flag, ParamRef (*ref)(T&)) {
    const Param<GenerationRequest>* g = find_flag(generation_params(), flag);
    if (!g) fail(flag, " is not a generation flag");
    return {g->flag, g->alias, nullptr, nullptr, g->metavar, g->def, nullptr, g->lo, g->hi, g->help, ref, g->normalize};
}

// One flag of `table` at the reader's position (already consumed as `flag`): a value flag takes the next
// argument, a boolean flag is set by being there. False when the flag is not in the table.
template <class T>
bool take(const std::vector<Param<T>>& table, T& obj, const std::string& flag, Args& args) {
    const Param<T>* p = find_flag(table, flag);
    if (!p) return false;
    set_param(*p, obj, *p->metavar ? args.value(flag) : "true", flag, Origin::Cli);
    return true;
}

}  // namespace sdref::cli
