// canny.h: the Canny edge detector (Canny 1986), modelled on OpenCV's cv2.Canny (3x3 Sobel, L1 magnitude, no
// blur) that A1111's "canny" preprocessor runs, so an ordinary photo can drive a canny ControlNet (--canny).
//
//   g = (Sobel_x, Sobel_y) 3x3 per colour channel, the channel with the largest |gx| + |gy| at each pixel
//   non-maximum suppression: keep a pixel whose |g| is the largest along its gradient direction (4 sectors)
//   hysteresis: keep |g| > high, and |g| > low where connected (8-neighbours) to a kept pixel
// The result is white edges (255) on black, as an RGB image.
#pragma once

#include "pipeline/image.h"

namespace sdref {

Image canny_edges(const Image& rgb, float low, float high);

}  // namespace sdref
