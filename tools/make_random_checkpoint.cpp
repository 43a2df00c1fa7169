// make_random_checkpoint: write a random-weight stand-in of a real checkpoint, tensor for tensor, from a manifest
// (name, dtype, shape per line; tests/golden/v1/sd15_tensor_manifest.tsv lists SD 1.5's 1,066,237,384 values,
// tests/golden/v2/sdxl_tensor_manifest.tsv SDXL 1.0 base's 3,468,837,945).
// Speed does not depend on weight values, so this is what the end-to-end benchmark runs on.
//
//   build/tools/make_random_checkpoint tests/golden/v1/sd15_tensor_manifest.tsv /tmp/sd15-random.safetensors [seed]
//
// Values: N(0, 0.02) for weights, 1 for norm scales, 0 for biases (finite activations, no denormals); F32
// buffers get the SD 1.5 noise schedule's shapes but random content; integer tensors count up. Each tensor is made
// when it is written, from its own generator (seed, tensor index, block), in parallel: SD 3.5 Large's 27 GB file is
// written in the memory of one tensor.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

using namespace sdref;

int main(int argc, char** argv) {
    try {
        if (argc < 3) {
            std::fprintf(stderr, "usage: make_random_checkpoint MANIFEST.tsv OUT.safetensors [seed]\n");
            return 2;
        }
        const std::string manifest = read_text_file(argv[1]);
        const unsigned seed = argc > 3 ? unsigned(std::stoul(argv[3])) : 1u;
        std::vector<TensorRecord> records;
        std::istringstream lines(manifest);
        std::string line;
        std::getline(lines, line);  // header
        size_t values = 0;
        while (std::getline(lines, line)) {
            if (line.empty()) continue;
            std::istringstream f(line);
            std::string name, dtype_text, shape_text;
            if (!std::getline(f, name, '\t') || !std::getline(f, dtype_text, '\t'))
                fail(argv[1], ": malformed line \"", line, "\"");
            std::getline(f, shape_text);  // empty for a 0-d tensor (SDXL's logit_scale)
            DType dtype;
            if (!parse_dtype(dtype_text, &dtype)) fail(argv[1], ": unknown dtype ", dtype_text, " for ", name);
            if (dtype != DType::F16 && dtype != DType::F32 && dtype != DType::I64) fail(argv[1], ": dtype ", dtype_text, " is not generated (", name, ")");
            Shape shape;
            std::istringstream s(shape_text);
            for (std::string d; std::getline(s, d, ',');) shape.push_back(std::stoll(d));
            values += size_t(shape_numel(shape));
            records.push_back({name, dtype, shape, {}});
        }
        auto bytes_of = [&](size_t index) {
            const TensorRecord& r = records[index];
            const int64_t n = shape_numel(r.shape), block = int64_t(1) << 20;
            std::string bytes(size_t(n) * dtype_size(r.dtype), '\0');
            const std::string& name = r.name;
            const bool is_norm_scale = name.find("norm") != std::string::npos && name.size() > 7 &&
                                       name.compare(name.size() - 7, 7, ".weight") == 0 && r.shape.size() == 1;
            const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
#pragma omp parallel for schedule(dynamic)
            for (int64_t b = 0; b < (n + block - 1) / block; ++b) {
                std::seed_seq seq{seed, unsigned(index), unsigned(b)};
                std::mt19937 rng(seq);
                std::normal_distribution<float> normal(0.0f, 0.02f);
                for (int64_t i = b * block; i < std::min(n, (b + 1) * block); ++i) {
                    const float v = is_norm_scale ? 1.0f : is_bias ? 0.0f : normal(rng);
                    if (r.dtype == DType::F16) {
                        const uint16_t h = f32_to_f16(v);
                        std::memcpy(&bytes[size_t(i) * 2], &h, 2);
                    } else if (r.dtype == DType::F32) {
                        std::memcpy(&bytes[size_t(i) * 4], &v, 4);
                    } else {
                        const int64_t x = i;
                        std::memcpy(&bytes[size_t(i) * 8], &x, 8);
                    }
                }
            }
            return bytes;
        };
        write_safetensors(argv[2], records, {{"about", std::string("random weights from ") + argv[1]}}, bytes_of);
        std::printf("wrote %s: %zu tensors, %zu values\n", argv[2], records.size(), values);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_random_checkpoint: error: %s\n", e.what());
        return 1;
    }
}
