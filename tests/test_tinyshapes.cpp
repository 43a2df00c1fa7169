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
