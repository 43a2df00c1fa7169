// The TinyShapes demo model (models/tinyshapes.safetensors) draws what it is asked for, judged by an analytic
// checker that is itself tested first on the dataset's own pictures.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <map>

#include "golden.h"
#include "tinyshapes_checker.h"

using namespace sdref;

namespace {

std::string data_path(const std::string& file) { return std::string(SDREF_SOURCE_DIR) + "/tests/data/tinyshapes/" + file; }

struct Score {
    int right = 0, total = 0;
    double rate() const { return total ? double(right) / total : 0; }
    void add(bool ok) { right += ok, ++total; }
};

}  // namespace

TEST_CASE("the TinyShapes checker judges the dataset's own pictures right", "[tinyshapes]") {
    const Json d = test::load_json_file(data_path("dataset.json"));
    const test::TinyShapesChecker checker(d);
    const Image grid = read_image(data_path("dataset.png"), 3);
    const int n = int(d.at("size").as_int()), cols = int(d.at("columns").as_int());
    std::map<std::string, Score> score;
    std::string wrong;
    const std::vector<Json>& pictures = d.at("pictures").items();
    for (size_t i = 0; i < pictures.size(); ++i) {
        const Json& truth = pictures[i];
        const test::ShapeLabels got = checker.judge(test::crop(grid, int(i) % cols * n, int(i) / cols * n, n, n));
        const std::pair<const char*, const std::string*> parts[] = {
            {"colour", &got.colour}, {"shape", &got.shape}, {"background", &got.background}, {"position", &got.position}, {"size", &got.size}};
        for (const auto& [key, value] : parts) {
            const bool ok = *value == truth.at(key).as_string();
            score[key].add(ok);
            if (!ok) wrong += "picture " + std::to_string(i) + " (" + truth.at("caption").as_string() + "): " + key + " " + *value + "\n";
        }
    }
    INFO(wrong);
    for (const auto& [key, s] : score) {
        INFO(key << ": " << s.right << " of " << s.total);
        CHECK(s.rate() >= 0.98);
    }
}

TEST_CASE("the TinyShapes checker can fail: against another picture's labels it disagrees", "[tinyshapes]") {
    const Json d = test::load_json_file(data_path("dataset.json"));
    const test::TinyShapesChecker checker(d);
    const Image grid = read_image(data_path("dataset.png"), 3);
    const int n = int(d.at("size").as_int()), cols = int(d.at("columns").as_int());
    const std::vector<Json>& pictures = d.at("pictures").items();
    int agree = 0;
    for (size_t i = 0; i + 1 < pictures.size(); ++i) {
        const test::ShapeLabels got = checker.judge(test::crop(grid, int(i) % cols * n, int(i) / cols * n, n, n));
        const Json& other = pictures[i + 1];  // the next picture's labels: mostly another colour or shape
        agree += got.colour == other.at("colour").as_string() && got.shape == other.at("shape").as_string();
    }
    CHECK(agree < int(pictures.size()) / 4);
}

TEST_CASE("the demo model draws the colours and shapes it is asked for, also pairs held out of training", "[tinyshapes][cli]") {
    const Json d = test::load_json_file(data_path("dataset.json"));
    const Json cases = test::load_json_file(data_path("prompts.json"));
    const test::TinyShapesChecker checker(d);
    const std::string dir = test::scratch_dir("tinyshapes");
    std::vector<std::pair<std::string, std::string>> held_out;
    for (const Json& p : d.at("held_out").items()) held_out.push_back({p.items().at(0).as_string(), p.items().at(1).as_string()});
    const std::vector<Json>& seeds = cases.at("seeds").items();
    for (size_t s = 0; s < seeds.size(); ++s) REQUIRE(seeds[s].as_int() == seeds[0].as_int() + int64_t(s));  // -b counts up
    Score colour, shape, held_colour, held_shape;
    std::string report;
    const std::vector<Json>& prompts = cases.at("prompts").items();
    for (size_t k = 0; k < prompts.size(); ++k) {
        const std::string prompt = prompts[k].as_string();
        const test::ShapeLabels want = checker.parse(prompt);
        const bool is_held_out = std::find(held_out.begin(), held_out.end(), std::make_pair(want.colour, want.shape)) != held_out.end();
        const std::string out = dir + "/p" + std::to_string(k) + ".png";
        // no -m and no -W/-H: the demo model at its own size
        const std::string cmd = "'" + test::sdref_binary() + "' -p '" + prompt + "' -s " + std::to_string(seeds.front().as_int()) +
                                " -b " + std::to_string(seeds.size()) + " --steps " + std::to_string(cases.at("steps").as_int()) +
                                " --sampling-method " + cases.at("sampling_method").as_string() + " --cfg-scale " +
                                std::to_string(cases.at("cfg_scale").as_number()) + " -o '" + out + "' > /dev/null 2>&1";
        REQUIRE(std::system(cmd.c_str()) == 0);
        for (size_t s = 0; s < seeds.size(); ++s) {
            const std::string file = s == 0 ? out : dir + "/p" + std::to_string(k) + "_" + std::to_string(s) + ".png";
            const Image im = read_image(file, 3);
            REQUIRE(im.width == int(d.at("size").as_int()));
            const test::ShapeLabels got = checker.judge(im);
            const bool colours_ok = got.colour == want.colour && got.background == want.background;
            const bool shape_ok = got.shape == want.shape;
            colour.add(colours_ok), shape.add(shape_ok);
            if (is_held_out) held_colour.add(colours_ok), held_shape.add(shape_ok);
            report += prompt + " (seed " + std::to_string(seeds[s].as_int()) + "): " + got.colour + " " + got.shape + " on " +
                      got.background + (is_held_out ? "  [held out]" : "") + "\n";
        }
    }
    INFO(report);
    INFO("colours right " << colour.right << "/" << colour.total << ", shapes right " << shape.right << "/" << shape.total
                          << "; held-out pairs: colours " << held_colour.right << "/" << held_colour.total << ", shapes "
                          << held_shape.right << "/" << held_shape.total);
    CHECK(held_colour.total > 0);
    CHECK(colour.rate() >= cases.at("thresholds").at("colour").as_number());
    CHECK(shape.rate() >= cases.at("thresholds").at("shape").as_number());
}
