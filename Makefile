# Loom's entry points. `make demo` and `make test` are the two set-up
# commands: each installs what it needs (scripts/deps.sh), builds, then runs.
BUILD_DIR ?= build
JOBS      ?= 2
BUILD_TYPE ?= Release
CMAKE_ARGS ?=
PYTHON    := .venv/bin/python

.PHONY: all deps deps-oracle configure build build-loom test test-sanitize demo demo-text bench clean

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
