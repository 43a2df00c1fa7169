#include "pipeline/grid.h"

#include <stb_truetype.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace sdref {

namespace {

// The code points of UTF-8 text; a malformed byte becomes '?'.
std::vector<int> code_points(const std::string& s) {
    std::vector<int> out;
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + size_t(n) > s.size()) {
            out.push_back('?');
            ++i;
            continue;
        }
        int cp = n == 1 ? c : c & (0x7F >> n);
        for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + size_t(k)]) & 0x3F);
        out.push_back(cp);
        i += size_t(n);
    }
    return out;
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    size_t at = 0;
    for (size_t nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1) out.push_back(s.substr(at, nl - at));
    out.push_back(s.substr(at));
    return out;
}

constexpr float kMaxSize = 16, kMinSize = 7;
constexpr int kPad = 4;

// The size at which `line` fits `room` pixels: kMaxSize, or smaller down to kMinSize (clipped beyond that).
float fitting_size(const Font& font, const std::string& line, int room) {
    const int w = font.width(line, kMaxSize);
    return w <= room ? kMaxSize : std::max(kMinSize, kMaxSize * float(room) / float(w));
}

// The lines of a label for a column `room` pixels wide: its own lines, each broken at spaces where it does not fit
// at kMaxSize (a word that does not fit alone is shrunk when drawn).
std::vector<std::string> wrapped_lines(const Font& font, const std::string& label, int room) {
    std::vector<std::string> out;
    for (const std::string& l : lines_of(label)) {
        std::string current;
        size_t at = 0;
        while (at <= l.size()) {
            const size_t space = std::min(l.find(' ', at), l.size());
            const std::string word = l.substr(at, space - at);
            const std::string joined = current.empty() ? word : current + " " + word;
            if (!current.empty() && font.width(joined, kMaxSize) > room) {
                out.push_back(current);
                current = word;
            } else {
                current = joined;
            }
            at = space + 1;
        }
        out.push_back(current);
    }
    return out;
}

}  // namespace

struct Font::Impl {
    std::vector<unsigned char> data;
    stbtt_fontinfo info;
};

namespace {

// How far the pen moves after code point i of `cps`: its advance, and the kerning towards the next one.
float pen_advance(const stbtt_fontinfo& info, const std::vector<int>& cps, size_t i, float scale) {
    int advance = 0, bearing = 0;
    stbtt_GetCodepointHMetrics(&info, cps[i], &advance, &bearing);
    float x = float(advance) * scale;
    if (i + 1 < cps.size()) x += float(stbtt_GetCodepointKernAdvance(&info, cps[i], cps[i + 1])) * scale;
    return x;
}

}  // namespace

Font::Font() : impl_(std::make_unique<Impl>()) {}
Font::Font(Font&&) noexcept = default;
Font::~Font() = default;

Font Font::load(const std::string& path) {
    Font f;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (path == kDefaultPath) fail("the labels' font ", path, " is missing (Debian's fonts-dejavu-core; tools/install-deps.sh installs it)");
        fail("cannot open the font ", path);
    }
    f.impl_->data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const int offset = stbtt_GetFontOffsetForIndex(f.impl_->data.data(), 0);
    if (f.impl_->data.size() < 12 || offset < 0 || !stbtt_InitFont(&f.impl_->info, f.impl_->data.data(), offset))
        fail(path, " is not a TrueType font");
    return f;
}

int Font::width(const std::string& text, float size) const {
    const float scale = stbtt_ScaleForPixelHeight(&impl_->info, size);
    float x = 0;
    const std::vector<int> cps = code_points(text);
    for (size_t i = 0; i < cps.size(); ++i) x += pen_advance(impl_->info, cps, i, scale);
    return int(std::ceil(x));
}

void Font::draw(Image& image, int x, int y, const std::string& text, float size) const {
    const float scale = stbtt_ScaleForPixelHeight(&impl_->info, size);
    int ascent = 0, descent = 0, gap = 0;
    stbtt_GetFontVMetrics(&impl_->info, &ascent, &descent, &gap);
    const int baseline = y + int(std::lround(float(ascent) * scale));
    float pen = float(x);
    const std::vector<int> cps = code_points(text);
    for (size_t i = 0; i < cps.size(); ++i) {
        int x0, y0, x1, y1;
        stbtt_GetCodepointBitmapBox(&impl_->info, cps[i], scale, scale, &x0, &y0, &x1, &y1);
        const int gw = x1 - x0, gh = y1 - y0;
        if (gw > 0 && gh > 0) {
            std::vector<unsigned char> glyph(size_t(gw) * size_t(gh));
            stbtt_MakeCodepointBitmap(&impl_->info, glyph.data(), gw, gh, gw, scale, scale, cps[i]);
            const int left = int(std::lround(pen)) + x0, top = baseline + y0;
            for (int gy = 0; gy < gh; ++gy)
                for (int gx = 0; gx < gw; ++gx) {
                    const int px = left + gx, py = top + gy;
                    if (px < 0 || py < 0 || px >= image.width || py >= image.height) continue;
                    const int alpha = glyph[size_t(gy) * size_t(gw) + size_t(gx)];
                    for (int c = 0; c < image.channels; ++c) {
                        uint8_t& v = image.pixels[(size_t(py) * size_t(image.width) + size_t(px)) * size_t(image.channels) + size_t(c)];
                        v = uint8_t((v * (255 - alpha) + 127) / 255);  // black over what is there
                    }
                }
        }
        pen += pen_advance(impl_->info, cps, i, scale);
    }
}

namespace {

// The grid, with labels when `font` is given.
Image compose(const std::vector<Image>& cells, int columns, const std::vector<std::string>& x_labels,
              const std::vector<std::string>& y_labels, const Font* font, const std::string& x_title) {
    if (cells.empty() || columns < 1) fail("grid: no pictures");
    const int W = cells[0].width, H = cells[0].height;
    for (const Image& c : cells)
        if (c.width != W || c.height != H || c.channels != 3) fail("grid: the pictures differ in size");
    const int rows = int((cells.size() + size_t(columns) - 1) / size_t(columns));
    if (!x_labels.empty() && x_labels.size() != size_t(columns)) fail("grid: ", x_labels.size(), " column labels for ", columns, " columns");
    if (!y_labels.empty() && y_labels.size() != size_t(rows)) fail("grid: ", y_labels.size(), " row labels for ", rows, " rows");
    const int line = int(kMaxSize) + 3;
    // the header's height: the most lines of any column label; the left column's width: the widest row label line
    std::vector<std::vector<std::string>> header;
    size_t header_lines = 0;
    for (const std::string& l : x_labels) {
        header.push_back(wrapped_lines(*font, l, W - 2 * kPad));
        header_lines = std::max(header_lines, header.back().size());
    }
    const int title = x_title.empty() ? 0 : line;
    const int top = x_labels.empty() ? title : title + int(header_lines) * line + 2 * kPad;
    int left = 0;
    for (const std::string& l : y_labels)
        for (const std::string& s : lines_of(l)) left = std::max(left, font->width(s, kMaxSize) + 2 * kPad);
    left = std::min(left, std::max(2 * W, 96));
    Image out{left + columns * W, top + rows * H, 3, std::vector<uint8_t>(size_t(left + columns * W) * size_t(top + rows * H) * 3, 255)};
    for (size_t i = 0; i < cells.size(); ++i) {
        const int cx = left + int(i % size_t(columns)) * W, cy = top + int(i / size_t(columns)) * H;
        for (int y = 0; y < H; ++y)
            std::copy_n(cells[i].pixels.data() + size_t(y) * size_t(W) * 3, size_t(W) * 3,
                        out.pixels.data() + (size_t(cy + y) * size_t(out.width) + size_t(cx)) * 3);
    }
    // labels, each line centred on its column / in its row
    for (size_t c = 0; c < header.size(); ++c) {
        const std::vector<std::string>& ls = header[c];
        for (size_t k = 0; k < ls.size(); ++k) {
            const float size = fitting_size(*font, ls[k], W - 2 * kPad);
            const int x = left + int(c) * W + std::max(kPad, (W - font->width(ls[k], size)) / 2);
            font->draw(out, x, title + kPad + int(k) * line, ls[k], size);
        }
    }
    if (!x_title.empty()) {
        const float size = fitting_size(*font, x_title, columns * W - 2 * kPad);
        font->draw(out, left + std::max(kPad, (columns * W - font->width(x_title, size)) / 2), kPad, x_title, size);
    }
    for (size_t r = 0; r < y_labels.size(); ++r) {
        const std::vector<std::string> ls = lines_of(y_labels[r]);
        const int y0 = top + int(r) * H + (H - int(ls.size()) * line) / 2;
        for (size_t k = 0; k < ls.size(); ++k) {
            const float size = fitting_size(*font, ls[k], left - 2 * kPad);
            font->draw(out, std::max(kPad, left - kPad - font->width(ls[k], size)), y0 + int(k) * line, ls[k], size);
        }
    }
    return out;
}

}  // namespace

Image image_grid(const std::vector<Image>& cells, int columns) { return compose(cells, columns, {}, {}, nullptr, ""); }

Image labelled_grid(const std::vector<Image>& cells, int columns, const std::vector<std::string>& x_labels,
                    const std::vector<std::string>& y_labels, const Font& font, const std::string& x_title) {
    return compose(cells, columns, x_labels, y_labels, &font, x_title);
}

}  // namespace sdref
