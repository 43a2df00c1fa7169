// libFuzzer harness: the PyTorch file reader (zip container + restricted pickle machine) on arbitrary bytes.
// Every input is either a file whose tensors can all be read, or an sdref::Error; never a crash, a read outside
// the mapping, or a Python global being honoured.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "io/pytorch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = "/tmp/sdref-fuzz-pytorch-" + std::to_string(getpid()) + ".pt";
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    try {
        const sdref::PyTorchFile file(path);
        for (const sdref::TensorView& t : file.tensors())
            if (t.numel() <= (1 << 16)) (void)t.to_f32(), (void)t.count_non_finite();
    } catch (const sdref::Error&) {
    }
    return 0;
}
