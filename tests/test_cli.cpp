// The sdref binary itself: output and exit codes.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <sstream>

#include "golden.h"

using namespace sdref;

namespace {

struct Run {
    int status;
    std::string output;  // stdout and stderr together
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Run run(const std::string& args) {
    const std::string cmd = quote(test::sdref_binary()) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string joined(const Json& ids) {
    std::ostringstream s;
    for (size_t i = 0; i < ids.items().size(); ++i) s << (i ? " " : "") << ids.items()[i].as_int();
    return s.str() + "\n";
}

}  // namespace

TEST_CASE("sdref tokenize prints the golden ids", "[cli][tokenizer][golden]") {
    const Json golden = test::load_json_file(test::golden_path("tokenizer.json"));
    for (const Json& c : golden.at("cases").items()) {
        const std::string text = c.at("text").as_string();
        INFO("prompt: " << text);
        const Run sd1 = run("tokenize " + quote(text));
        CHECK(sd1.status == 0);
        CHECK(sd1.output == joined(c.at("sd1_ids")));
        const Run sd2 = run("tokenize --pad-id " + std::to_string(c.at("sd2_ids").items().back().as_int()) + " " + quote(text));
        CHECK(sd2.output == joined(c.at("sd2_ids")));
    }
}

TEST_CASE("sdref reports bad input on one line with a non-zero exit", "[cli]") {
    const Run unknown = run("frobnicate");
    CHECK(unknown.status != 0);
    CHECK(unknown.output.find("unknown command \"frobnicate\"") != std::string::npos);

    const Run pad = run("tokenize --pad-id x hello");
    CHECK(pad.status != 0);
    CHECK(pad.output.find("--pad-id") != std::string::npos);

    const std::string dir = test::scratch_dir("cli");
    const std::string bad = dir + "/bad.safetensors";
    FILE* f = fopen(bad.c_str(), "wb");
    fwrite("\x05\x00\x00\x00\x00\x00\x00\x00{}", 1, 10, f);
    fclose(f);
    const Run inspect = run("inspect " + quote(bad));
    CHECK(inspect.status != 0);
    CHECK(inspect.output.find(bad) != std::string::npos);
    CHECK(std::count(inspect.output.begin(), inspect.output.end(), '\n') == 1);

    const Run good = run("inspect " + quote(test::golden_path("vae.safetensors")));
    CHECK(good.status == 0);
}
