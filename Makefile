# Loom's entry points. `make demo` and `make test` are the two set-up
# commands: each installs what it needs (scripts/deps.sh), builds, then runs.
BUILD_DIR ?= build
JOBS      ?= 2
BUILD_TYPE ?= Release
CMAKE_ARGS ?=
PYTHON    := .venv/bin/python

.PHONY: all deps deps-oracle configure build build-loom build-cuda test-cuda test test-sanitize demo demo-text bench clean

all: build

deps:
	@bash scripts/deps.sh

# The tests' second venv (.venv-cuda: torch 2.14.1 + torchvision for the
# image processor's oracle).
deps-oracle:
	@bash scripts/deps_cuda_venv.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt | deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_PREFIX_PATH="$$($(PYTHON) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" $(CMAKE_ARGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Only what the demos run: the `loom` executable (107 of the ~200 build
# steps; the test binaries, libloom and the studio are left for `make build`).
build-loom: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target loom

# The CUDA build (LOOM_WITH_CUDA) against .venv-cuda's CUDA 13 LibTorch
# (torch 2.14.1 + nvidia cu13 wheels + pip nvcc; scripts/deps_cuda_build.sh),
# in $(CUDA_BUILD_DIR). It compiles and links without a GPU; `make
# test-cuda` runs the CPU tests with that LibTorch (GPU tests: not run).
CUDA_BUILD_DIR ?= build-cuda
build-cuda: deps
	@cu=$$(bash scripts/deps_cuda_build.sh | tail -n 1) && \
	PATH="$$cu/bin:$$PATH" cmake -S . -B $(CUDA_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_PREFIX_PATH="$$(.venv-cuda/bin/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
	  -DCUDA_TOOLKIT_ROOT_DIR="$$cu" -DCUDAToolkit_ROOT="$$cu" -DCMAKE_CUDA_COMPILER="$$cu/bin/nvcc" \
	  -DCMAKE_CUDA_STANDARD=17 -DTORCH_CUDA_ARCH_LIST=9.0 -DLOOM_CUDA_ROOT="$$cu" \
	  $(CMAKE_ARGS) && \
	cmake --build $(CUDA_BUILD_DIR) -j $(JOBS)

test-cuda: build-cuda deps-oracle
	@cd $(CUDA_BUILD_DIR) && ctest -L cpu --output-on-failure -j $(JOBS) --timeout 600

# Every CPU test (unit, multi-rank over loopback, end-to-end CLI).
test: build deps-oracle
	@cd $(BUILD_DIR) && ctest -L cpu --output-on-failure -j $(JOBS) --timeout 600

# The main job: train a small omni model from scratch on real emoji captions
# and spoken prompts, show the loss per modality falling from the run store,
# caption held-out images and transcribe held-out clips.
demo: build-loom
	@LOOM=$(BUILD_DIR)/loom bash scripts/demo.sh

# The text demo: tokenize a real novel, train a small Qwen3, generate a sample.
demo-text: build-loom
	@LOOM=$(BUILD_DIR)/loom bash scripts/demo_text.sh

# The C ABI tests against libloom built with AddressSanitizer + UBSan.
test-sanitize: build
	@cmake --build $(BUILD_DIR) --target capi_sanitized -- -j $(JOBS)
	@cd $(BUILD_DIR) && ctest -L sanitize --output-on-failure -j 1

bench: build
	@cd $(BUILD_DIR) && ctest -L bench --output-on-failure -j 1 -V

clean:
	@rm -rf $(BUILD_DIR)
