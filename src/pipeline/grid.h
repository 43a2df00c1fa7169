// grid.h: several pictures in one: a batch as a grid (sdref --grid) and a labelled X/Y plot (--x-axis/--y-axis).
//
//   image_grid     cells of one size in rows of `columns`, left to right, top to bottom
//   labelled_grid  the same with a header row of column labels above and a column of row labels at the left,
//                  black text on white, drawn with a TrueType font (stb_truetype)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/image.h"

namespace sdref {

// A TrueType font file, drawing lines of text in black.
class Font {
public:
    // DejaVu Sans from Debian's fonts-dejavu-core (tools/install-deps.sh installs it).
    static constexpr const char* kDefaultPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    // Errors name the file (and the package, for the default font).
    static Font load(const std::string& path = kDefaultPath);
    Font(Font&&) noexcept;
    ~Font();

    // The width in pixels of a line of UTF-8 text at `size` pixels (the font's ascent to descent).
    int width(const std::string& text, float size) const;
    // Draw it with its top-left corner at (x, y); what falls outside the image is clipped.
    void draw(Image& image, int x, int y, const std::string& text, float size) const;

private:
    Font();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Cells of one size (all RGB) in rows of `columns`.
Image image_grid(const std::vector<Image>& cells, int columns);

// The grid with x_labels above its columns (under x_title, centred over them all) and y_labels left of its rows
// (any may be empty). A label is one or more lines ('\n'), broken at spaces where too wide; each line is drawn
// as large as fits, up to 16 pixels.
Image labelled_grid(const std::vector<Image>& cells, int columns, const std::vector<std::string>& x_labels,
                    const std::vector<std::string>& y_labels, const Font& font, const std::string& x_title = "");

}  // namespace sdref
