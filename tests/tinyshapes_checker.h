// tinyshapes_checker.h: judges a TinyShapes picture analytically, so the demo model's output can be tested
// against its prompt without a second neural network.
//
//   colours    every pixel takes the nearest palette colour; the background is the most common one on the
//              picture's border, the foreground the most common of the rest
//   shape      the foreground mask's bounding box; each shape's outline (as ref/tinyshapes/dataset.py draws it) is
//              fitted to that box and the one with the highest intersection-over-union wins
//   position   the mask's centroid, nearest of the five positions
//   size       the box's side against the midpoint of the two sizes
//
// The palette, shapes, positions and sizes are read from tests/data/tinyshapes/dataset.json (written by
// ref/tinyshapes/make_checker_set.py); the outlines are dataset.py's, written again in C++ (the checker's own
// test on the dataset's pictures shows that they agree).
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include "io/json.h"
#include "pipeline/image.h"

namespace sdref::test {

struct ShapeLabels {
    std::string colour, shape, background, position, size;  // empty: not stated (a caption) or not found
};

class TinyShapesChecker {
public:
    explicit TinyShapesChecker(const Json& dataset);
    // What a picture shows.
    ShapeLabels judge(const Image& picture) const;
    // What a single-shape caption asks for ("a small red circle at the top left on a blue background").
    ShapeLabels parse(const std::string& caption) const;
    const std::vector<std::string>& shapes() const { return shapes_; }

private:
    std::vector<std::pair<std::string, std::array<float, 3>>> palette_;
    std::vector<std::string> shapes_;
    std::vector<std::pair<std::string, std::array<float, 2>>> positions_;
    std::map<std::string, double> sizes_;  // radius as a fraction of the side
};

// A rectangle [x0, x1) x [y0, y1) of a picture (a cell of a grid of pictures).
Image crop(const Image& image, int x0, int y0, int w, int h);

}  // namespace sdref::test
