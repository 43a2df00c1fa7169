// The analytic checker that will judge the TinyShapes demo model's pictures (ref/tinyshapes/README.md), tested on
// the dataset's own pictures, whose labels are known.
#include <catch2/catch.hpp>

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

// One picture made by the sdref command with these arguments (writing `path`), as the checker sees it.
test::ShapeLabels draw_and_judge(const test::TinyShapesChecker& checker, const std::string& args, const std::string& path) {
    const test::Run r = test::run(args + " -o " + test::quote(path));
    INFO(r.output);
    REQUIRE(r.status == 0);
    return checker.judge(read_image(path, 3));
}

// The shape's and the background's colours are the ones a case of prompts.json asks for.
bool colours_right(const test::ShapeLabels& got, const Json& c) {
    return got.colour == c.at("colour").as_string() && got.background == c.at("background").as_string();
}

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

// The demo model (models/tinyshapes.safetensors, found by sdref beside its binary when no -m is given) draws what
// the prompts of tests/data/tinyshapes/prompts.json ask for: every large colour-shape pair, each on a background
// of another colour, the five colour-shape pairs held out of training included (three seeds each). Each picture is
// made by the sdref command with its defaults and judged by the checker above.
// Colours (foreground and background): at least 90% right, shapes at least 75%, over all and over the held-out
// pairs (issue 13's targets). Measured with the shipped model: colours 50 of 50, shapes 46 of 50 (held-out pairs:
// colours 15 of 15, shapes 12 of 15).
TEST_CASE("the demo model draws the colours and the shapes its prompts ask for", "[tinyshapes][demo]") {
    constexpr double kColourRate = 0.90, kShapeRate = 0.75;
    const test::TinyShapesChecker checker(test::load_json_file(data_path("dataset.json")));
    const Json cases = test::load_json_file(data_path("prompts.json"));
    const std::string dir = test::scratch_dir("tinyshapes-demo");
    Score colour, shape, held_colour, held_shape;
    std::string wrong;
    int n = 0;
    for (const Json& c : cases.at("prompts").items()) {
        for (const Json& seed : c.at("seeds").items()) {
            const std::string prompt = c.at("prompt").as_string(), path = dir + "/" + std::to_string(n++) + ".png";
            const test::ShapeLabels got = draw_and_judge(
                checker, "-p " + test::quote(prompt) + " -s " + std::to_string(seed.as_int()) + " " + cases.at("sdref_flags").as_string(), path);
            const bool colour_ok = colours_right(got, c);
            const bool shape_ok = got.shape == c.at("shape").as_string();
            colour.add(colour_ok), shape.add(shape_ok);
            if (c.at("held_out").as_bool()) held_colour.add(colour_ok), held_shape.add(shape_ok);
            if (!colour_ok || !shape_ok)
                wrong += path + " (\"" + prompt + "\", seed " + std::to_string(seed.as_int()) + "): a " + got.colour + " " +
                         got.shape + " on " + got.background + "\n";
        }
    }
    INFO(wrong << "colours " << colour.right << "/" << colour.total << ", shapes " << shape.right << "/" << shape.total
               << "; held-out pairs: colours " << held_colour.right << "/" << held_colour.total << ", shapes "
               << held_shape.right << "/" << held_shape.total);
    REQUIRE(held_colour.total > 0);
    CHECK(colour.rate() >= kColourRate);
    CHECK(shape.rate() >= kShapeRate);
    CHECK(held_colour.rate() >= kColourRate);
    CHECK(held_shape.rate() >= kShapeRate);
}

// The test above can fail: the same prompts drawn by the random-weight test model are judged wrong.
TEST_CASE("the demo model's test can fail: a random-weight model's pictures are judged wrong", "[tinyshapes][demo]") {
    const test::TinyShapesChecker checker(test::load_json_file(data_path("dataset.json")));
    const Json cases = test::load_json_file(data_path("prompts.json"));
    const std::string dir = test::scratch_dir("tinyshapes-random");
    Score colour;
    const std::vector<Json>& prompts = cases.at("prompts").items();
    for (size_t i = 0; i < prompts.size(); i += 8) {
        const test::ShapeLabels got = draw_and_judge(checker,
                                                     "-m " + test::quote(test::golden_path("tiny-sd1.safetensors")) + " -W 64 -H 64 -p " +
                                                         test::quote(prompts[i].at("prompt").as_string()),
                                                     dir + "/" + std::to_string(i) + ".png");
        colour.add(colours_right(got, prompts[i]));
    }
    CHECK(colour.rate() < 0.5);
}
