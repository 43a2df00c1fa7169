// forward_context.h: how one forward pass runs, passed down from the pipeline to every layer instead of
// process-wide settings, so two generations with different settings never see each other's.
#pragma once

#include "kernels/backend.h"

namespace sdref {

struct ForwardContext {
    // the device that runs the ops (kernels/backend.h); the CPU's kernels unless another is chosen
    const kernels::Backend* backend = &kernels::cpu_backend();
    // the matrix products' precision (--precision): fp32, or bf16 operands with fp32 sums (kernels/gemm.h)
    kernels::Precision precision = kernels::Precision::FP32;
    // CPU threads (--threads) for the pass, applied by generate() for its calling thread (kernels::ThreadScope);
    // 0: the calling thread's setting. Results are the same bits for any count.
    int threads = 0;
    // --low-memory: a model maps each layer's weights in just before the layer runs and gives them back after
    // (WeightStream, blocks.h), so only one layer's weights are resident at a time
    bool stream_weights = false;

    const kernels::Backend& ops() const { return *backend; }
};

}  // namespace sdref
