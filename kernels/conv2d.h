// conv2d.h: 2-D convolution of one NCHW image, as an implicit GEMM.
//
//   out[co, oy, ox] = bias[co] + sum_{ci, ky, kx} w[co, ci, ky, kx] * in[ci, oy*s - p + ky, ox*s - p + kx]
//
// is the GEMM  out[Cout, OH*OW] = W[Cout, Cin*KH*KW] · X[Cin*KH*KW, OH*OW]  where column n of X is the receptive
// field of output pixel n ("im2col"). X is never built: the B operand packs its KC x NR panels straight from
// the image (Im2colSource), a few kilobytes at a time. 1x1 convolutions with stride 1 read the image as X
// directly. Weights stay in their stored type (fp32/fp16/bf16, PyTorch layout [Cout, Cin, KH, KW]).
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace sdref::kernels {

class WeightPanels;

struct Conv2dShape {
    int64_t in_channels, height, width;  // input [Cin, H, W]
    int64_t out_channels;
    int64_t kernel = 3, stride = 1, padding = 1;
    int64_t padding_end = -1;  // bottom/right padding; -1: the same as `padding` (the VAE's downsampling pads 0, 1)
    int64_t pad_end() const { return padding_end < 0 ? padding : padding_end; }
    int64_t out_height() const { return (height + padding + pad_end() - kernel) / stride + 1; }
    int64_t out_width() const { return (width + padding + pad_end() - kernel) / stride + 1; }
};

// The receptive fields of a convolution as the K x N operand of a GEMM (K = Cin*KH*KW, N = OH*OW).
class Im2colSource : public PanelSource {
public:
    Im2colSource(const Conv2dShape& shape, const float* image) : s_(shape), image_(image) {}
    void pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const override;

private:
    Conv2dShape s_;
    const float* image_;
};

// out [Cout, OH, OW] = conv(in [Cin, H, W]) with the epilogue (its row_bias is the per-channel bias).
// panels: a store the weight may be read from packed (weight_panels.h), or nullptr.
void conv2d(const Conv2dShape& shape, const float* in, const void* weight, ElemType weight_type, float* out,
            const GemmEpilogue& epilogue = {}, Precision precision = Precision::FP32, WeightPanels* panels = nullptr);

}  // namespace sdref::kernels
