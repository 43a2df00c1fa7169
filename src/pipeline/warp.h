// warp.h: Deforum's 2D motion between frames (anim_frame_warp_2d) and its colour coherence (maintain_colors).
//
// Warp: the picture turned by `angle` degrees (counter-clockwise) and scaled by `zoom` about the centre
// (W·cx, H·cy), after a translation by (tx, ty) pixels:
//   R = [[a, b, (1-a)cx - b cy], [-b, a, b cx + (1-a)cy], [0, 0, 1]],  a = zoom cos(angle), b = zoom sin(angle)
//   M = R · [[1, 0, tx], [0, 1, ty], [0, 0, 1]]
// and each output pixel (x, y) samples the input at M^-1 (x, y, 1), bilinearly, the position rounded to 1/32 of a
// pixel as OpenCV's warpPerspective does; outside the picture the edge repeats (replicate) or the far side comes
// round (wrap). The centre and the translation are float32 values (cv::Point2f) as in OpenCV.
//
// Colour coherence (Deforum's default, "LAB"): the frame's colours matched to the first frame's, channel by channel
// in 8-bit Lab (OpenCV's scaling: L·255/100, a + 128, b + 128) by histogram matching (scikit-image's
// match_histograms on uint8: each value's quantile in the frame mapped through the first frame's quantiles,
// truncated to 8 bits).
#pragma once

#include <array>
#include <string>

#include "pipeline/image.h"

namespace sdref {

enum class WarpBorder { Replicate, Wrap };

struct Warp2D {
    double angle = 0, zoom = 1, tx = 0, ty = 0;
    double center_x = 0.5, center_y = 0.5;  // of the width and height
    WarpBorder border = WarpBorder::Replicate;
    // M (row-major 3x3) for a picture of width x height
    std::array<double, 9> matrix(int width, int height) const;
};

Image warp_2d(const Image& in, const Warp2D& w);
// The same on float pixels [H][W][3] (what the golden's output_from_float_input holds), for tests.
std::vector<float> warp_2d(const std::vector<float>& in, int width, int height, const Warp2D& w);

// 8-bit RGB <-> 8-bit Lab (OpenCV's COLOR_RGB2LAB / COLOR_LAB2RGB scaling; sRGB, D65), pixel by pixel.
Image rgb_to_lab8(const Image& rgb);
Image lab8_to_rgb(const Image& lab);
// skimage.exposure.match_histograms of 8-bit channels: `source` with `reference`'s histogram, channel by channel.
Image match_histograms(const Image& source, const Image& reference);
// Deforum's maintain_colors(frame, first, "LAB").
Image match_colors_lab(const Image& frame, const Image& first);

}  // namespace sdref
