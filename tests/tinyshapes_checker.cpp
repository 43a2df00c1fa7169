#include "tinyshapes_checker.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace sdref::test {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Is the point (u, v) of the shape's unit box [-1, 1]^2 inside the shape? The outlines of ref/tinyshapes/dataset.py
// (shape_mask); the checker's test on the dataset's own pictures shows that the two agree.
bool inside(const std::string& shape, double u, double v) {
    if (shape == "circle") return u * u + v * v <= 1;
    if (shape == "square") return std::fabs(u) <= 0.85 && std::fabs(v) <= 0.85;
    if (shape == "triangle") return v <= 0.8 && v >= -1 + 2 * std::fabs(u) * 0.9;
    if (shape == "cross") return (std::fabs(u) <= 0.33 && std::fabs(v) <= 1) || (std::fabs(v) <= 0.33 && std::fabs(u) <= 1);
    if (shape == "star") {  // five points, inner radius 0.45, a point at the top
        const double sector = 2 * kPi / 5, valley = kPi / 5;
        double ang = std::fmod(std::atan2(u, -v), sector);
        if (ang < 0) ang += sector;
        const double t = std::fabs(ang / sector - 0.5) * 2;  // 1 at a tip, 0 between tips
        const double phi = (1 - t) * valley;
        const double p1x = 1, p1y = 0, p2x = 0.45 * std::cos(valley), p2y = 0.45 * std::sin(valley);
        const double nx = -(p2y - p1y), ny = p2x - p1x;
        return std::hypot(u, v) <= (p1x * nx + p1y * ny) / (std::cos(phi) * nx + std::sin(phi) * ny);
    }
    fail("tinyshapes checker: unknown shape \"", shape, "\"");
}

// The extent of each outline in its unit box: {u0, u1, v0, v1}.
std::array<double, 4> extent(const std::string& shape) {
    if (shape == "square") return {-0.85, 0.85, -0.85, 0.85};
    if (shape == "triangle") return {-1, 1, -1, 0.8};
    if (shape == "star") return {-std::sin(2 * kPi / 5), std::sin(2 * kPi / 5), -1, std::cos(kPi / 5)};
    return {-1, 1, -1, 1};
}

std::array<float, 3> rgb(const Json& j) {
    const std::vector<Json>& v = j.items();
    return {float(v.at(0).as_number()), float(v.at(1).as_number()), float(v.at(2).as_number())};
}

// The largest 4-connected component of a mask.
std::vector<uint8_t> largest_component(const std::vector<uint8_t>& mask, int w, int h) {
    std::vector<int> label(mask.size(), -1);
    int best = -1, best_size = 0, next = 0;
    for (int start = 0; start < w * h; ++start) {
        if (!mask[size_t(start)] || label[size_t(start)] >= 0) continue;
        std::vector<int> stack{start};
        label[size_t(start)] = next;
        int size = 0;
        while (!stack.empty()) {
            const int p = stack.back();
            stack.pop_back();
            ++size;
            const int x = p % w, y = p / w;
            const int nb[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
            for (const auto& q : nb) {
                if (q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h) continue;
                const int i = q[1] * w + q[0];
                if (mask[size_t(i)] && label[size_t(i)] < 0) label[size_t(i)] = next, stack.push_back(i);
            }
        }
        if (size > best_size) best_size = size, best = next;
        ++next;
    }
    std::vector<uint8_t> out(mask.size(), 0);
    for (size_t i = 0; i < out.size(); ++i) out[i] = label[i] == best && best >= 0;
    return out;
}

}  // namespace

TinyShapesChecker::TinyShapesChecker(const Json& d) {
    for (const auto& [name, c] : d.at("colours").members()) palette_.push_back({name, rgb(c)});
    for (const Json& s : d.at("shapes").items()) shapes_.push_back(s.as_string());
    for (const auto& [name, p] : d.at("positions").members())
        positions_.push_back({name, {float(p.items().at(0).as_number()), float(p.items().at(1).as_number())}});
    for (const auto& [name, r] : d.at("sizes").members()) sizes_[name] = r.as_number();
}

ShapeLabels TinyShapesChecker::judge(const Image& im) const {
    const int w = im.width, h = im.height;
    std::vector<int> label(size_t(w) * size_t(h));
    for (int i = 0; i < w * h; ++i) {
        double best = 1e30;
        for (size_t c = 0; c < palette_.size(); ++c) {
            double d = 0;
            for (int k = 0; k < 3; ++k) d += std::pow(double(im.pixels[size_t(i) * 3 + size_t(k)]) - palette_[c].second[size_t(k)], 2);
            if (d < best) best = d, label[size_t(i)] = int(c);
        }
    }
    // background: the commonest colour on the border; foreground: the commonest of the rest
    std::vector<int> border(palette_.size()), rest(palette_.size());
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if (x == 0 || y == 0 || x == w - 1 || y == h - 1) ++border[size_t(label[size_t(y * w + x)])];
    const int bg = int(std::max_element(border.begin(), border.end()) - border.begin());
    for (int l : label)
        if (l != bg) ++rest[size_t(l)];
    ShapeLabels out;
    out.background = palette_[size_t(bg)].first;
    const int fg = int(std::max_element(rest.begin(), rest.end()) - rest.begin());
    if (rest[size_t(fg)] == 0) return out;
    out.colour = palette_[size_t(fg)].first;

    std::vector<uint8_t> mask(label.size());
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = label[i] == fg;
    mask = largest_component(mask, w, h);
    double x0 = w, x1 = 0, y0 = h, y1 = 0, mx = 0, my = 0, area = 0;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if (mask[size_t(y * w + x)]) {
                x0 = std::min(x0, double(x)), x1 = std::max(x1, double(x + 1));
                y0 = std::min(y0, double(y)), y1 = std::max(y1, double(y + 1));
                mx += x + 0.5, my += y + 0.5, area += 1;
            }
    // shape: fit each outline's extent to the box, rasterise it (2x2 samples a pixel), compare by IoU
    double best_iou = -1, best_r = 0;
    for (const std::string& shape : shapes_) {
        const auto [u0, u1, v0, v1] = extent(shape);
        const double r = ((x1 - x0) / (u1 - u0) + (y1 - y0) / (v1 - v0)) / 2;
        const double cx = (x0 + x1) / 2 - r * (u0 + u1) / 2, cy = (y0 + y1) / 2 - r * (v0 + v1) / 2;
        double inter = 0, uni = 0;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                int hits = 0;
                for (int s = 0; s < 4; ++s) hits += inside(shape, (x + 0.25 + 0.5 * (s % 2) - cx) / r, (y + 0.25 + 0.5 * (s / 2) - cy) / r);
                const bool t = hits >= 2, m = mask[size_t(y * w + x)] != 0;
                inter += t && m, uni += t || m;
            }
        const double iou = uni > 0 ? inter / uni : 0;
        if (iou > best_iou) best_iou = iou, out.shape = shape, best_r = r;
    }
    // position: the nearest of the named places to the centroid; size: the nearer of the two radii
    double best_d = 1e30;
    for (const auto& [name, p] : positions_) {
        const double d = std::hypot(mx / area / w - p[0], my / area / h - p[1]);
        if (d < best_d) best_d = d, out.position = name;
    }
    best_d = 1e30;
    for (const auto& [name, r] : sizes_)
        if (std::fabs(best_r / w - r) < best_d) best_d = std::fabs(best_r / w - r), out.size = name;
    return out;
}

ShapeLabels TinyShapesChecker::parse(const std::string& caption) const {
    ShapeLabels out;
    std::istringstream in(caption);
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    for (size_t i = 0; i < words.size(); ++i) {
        for (const auto& p : palette_)
            if (words[i] == p.first) {
                if (i + 1 < words.size() && words[i + 1] == "background") out.background = p.first;
                else if (out.colour.empty()) out.colour = p.first;
            }
        for (const std::string& s : shapes_)
            if (words[i] == s) out.shape = s;
        for (const auto& [name, r] : sizes_)
            if (words[i] == name) out.size = name;
    }
    for (const auto& [name, p] : positions_)
        if (caption.find(name) != std::string::npos) out.position = name;
    return out;
}

Image crop(const Image& image, int x0, int y0, int w, int h) {
    Image out{w, h, image.channels, std::vector<uint8_t>(size_t(w) * size_t(h) * size_t(image.channels))};
    for (int y = 0; y < h; ++y)
        std::copy_n(&image.pixels[(size_t(y0 + y) * size_t(image.width) + size_t(x0)) * size_t(image.channels)],
                    size_t(w) * size_t(image.channels), &out.pixels[size_t(y) * size_t(w) * size_t(image.channels)]);
    return out;
}

}  // namespace sdref::test
