// limits.h: the largest image sdref accepts anywhere (-W/-H, input images, a model's declared resolution).
#pragma once

namespace sdref {

constexpr int kMaxImageSide = 16384;

}  // namespace sdref
