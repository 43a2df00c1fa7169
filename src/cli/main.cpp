// main.cpp: the sdref command. Subcommands are one file each (cmd_*.cpp); every error is one line on stderr
// and a non-zero exit.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "cli/commands.h"
#include "core/error.h"
#include "core/memory.h"
#include "kernels/cpu.h"

namespace {

void usage() {
    std::printf(
        "sdref: Stable Diffusion inference from scratch\n"
        "usage:\n"
        "  sdref [-m MODEL] -p PROMPT [options]                            generate an image (sdref -h for options;\n"
        "                                                                 without -m: the TinyShapes demo model)\n"
        "  sdref tokenize [--pad-id N] [--raw] [--tokenizer DIR] TEXT   CLIP token ids of a prompt\n"
        "  sdref inspect FILE.safetensors                                 validate a file, list its tensors\n"
        "  sdref inspect --check MODEL                                    scan a file or model folder for NaN/Inf weights\n"
        "  sdref serve [-m MODEL] [--port N] [--listen ADDR]              A1111's HTTP API and a web page (serve -h)\n"
        "  sdref upscale -i IN -o OUT --upscale-model FILE [--upscale-scale S]  Real-ESRGAN, as A1111's Extras (upscale -h)\n"
        "  sdref animate -p PROMPT --frames N -o OUTDIR [--zoom SCHEDULE ...]  Deforum's 2D animation (animate -h)\n"
        "  sdref worker --redis URL [--stream NAME] [-m MODEL]            take jobs from a Redis Stream (worker -h)\n"
        "  sdref submit --redis URL [generation flags] [--wait -o OUT]    queue one job (submit -h)\n");
}

}  // namespace

int main(int argc, char** argv) {
    sdref::kernels::run_with_passive_omp_waits(argv);  // (idle threads sleep: kernels/cpu.h says why)
    try {
        sdref::keep_freed_memory_for_reuse();
        if (argc < 2) {
            usage();
            return 2;
        }
        if (argv[1][0] == '-' && std::strcmp(argv[1], "--help") != 0) return sdref::cli::cmd_generate(argc, argv);
        if (!std::strcmp(argv[1], "--help")) {
            usage();
            return 0;
        }
        if (!std::strcmp(argv[1], "tokenize")) return sdref::cli::cmd_tokenize(argc, argv);
        if (!std::strcmp(argv[1], "inspect")) return sdref::cli::cmd_inspect(argc, argv);
        if (!std::strcmp(argv[1], "serve")) return sdref::cli::cmd_serve(argc, argv);
        if (!std::strcmp(argv[1], "upscale")) return sdref::cli::cmd_upscale(argc, argv);
        if (!std::strcmp(argv[1], "worker")) return sdref::cli::cmd_worker(argc, argv);
        if (!std::strcmp(argv[1], "animate")) return sdref::cli::cmd_animate(argc, argv);
        if (!std::strcmp(argv[1], "submit")) return sdref::cli::cmd_submit(argc, argv);
        sdref::fail("unknown command \"", argv[1], "\" (see sdref --help)");
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "sdref: error: out of memory: an allocation failed (try a smaller size or --low-memory)\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sdref: error: %s\n", e.what());
        return 1;
    }
}
