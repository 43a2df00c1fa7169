# sdref: the everyday commands. CMake does the building; this file only wraps it.
#
#   make            install missing packages (as root), build libsdref, the sdref command, tests and benchmarks
#   make test       ... then run every test through ctest
#   make demo       install only what the sdref command needs, build only it, draw demo.png with the demo model
#                   (TinyShapes, models/tinyshapes.safetensors)
#   make bench      ... then run the kernel benchmarks (results: bench/RESULTS.md)
#   make portable   a build that runs on any x86-64/aarch64 CPU and picks its SIMD path at run time
#   make test-neon  the kernel tests cross-compiled for aarch64 and run under qemu-user (NEON paths)
#   make fuzz       the libFuzzer harnesses (tests/fuzz/), FUZZ_SECONDS each (default 30), ASan + UBSan
#   make clean

BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
NATIVE   ?= ON
CMAKE_FLAGS ?=

.PHONY: all deps configure test test-neon fuzz bench demo portable clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@tools/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DSDREF_NATIVE=$(NATIVE) -DSDREF_TESTS=ON -DSDREF_BENCH=ON $(CMAKE_FLAGS) > /dev/null

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-neon:
	tools/test-neon.sh

fuzz:
	tools/fuzz.sh

# (the command alone: no tests, benchmarks or browser; `make test` adds them to the same build folder)
demo:
	@tools/install-deps.sh demo
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DSDREF_NATIVE=$(NATIVE) -DSDREF_TESTS=OFF -DSDREF_BENCH=OFF $(CMAKE_FLAGS) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target sdref
	$(BUILD)/sdref -p "a yellow star on a green background" -o demo.png

bench: all
	$(BUILD)/bench/sdref_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
	    --benchmark_report_aggregates_only=true

portable:
	$(MAKE) BUILD=build-portable NATIVE=OFF all

clean:
	rm -rf build build-portable build-aarch64 build-fuzz
