# Third-party dependencies. LibTorch comes from the venv's PyTorch wheel
# (CMAKE_PREFIX_PATH = torch.utils.cmake_prefix_path, set by the Makefile).

find_package(Torch REQUIRED)
# TorchConfig puts its flags (e.g. -D_GLIBCXX_USE_CXX11_ABI) in TORCH_CXX_FLAGS.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")

# LOOM_WITH_CUDA follows the LibTorch that was found.
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(LOOM_WITH_CUDA ON)
else()
  set(LOOM_WITH_CUDA OFF)
endif()

# c10d's Gloo process group is compiled into libtorch_cpu, but the wheel ships
# no gloo headers. Debian's libgloo-dev provides them; we compile against them
# and link NO gloo library: the only gloo in the process is LibTorch's own
# (tests/parallel check this with ldd). See docs/design/collectives.md.
find_path(LOOM_GLOO_INCLUDE_DIR gloo/config.h REQUIRED)

# The torch Python module dir, for torch_python-free linking checks and tests.
set(LOOM_TORCH_LIB_DIR "${TORCH_INSTALL_PREFIX}/lib")

# An imported target that carries LibTorch's include dirs and libraries,
# with the headers marked SYSTEM so their warnings stay out of our build.
add_library(loom_torch INTERFACE)
target_link_libraries(loom_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(loom_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS} ${LOOM_GLOO_INCLUDE_DIR})
target_compile_definitions(loom_torch INTERFACE USE_C10D_GLOO)
if(LOOM_WITH_CUDA)
  # A CUDA wheel's headers: cudart and cusolver (CUDAContextLight.h) under
  # nvidia/cu13/include, NCCL's under nvidia/nccl/include (ProcessGroupNCCL).
  set(LOOM_CUDA_ROOT "" CACHE PATH "The CUDA root of the wheels (site-packages/nvidia/cu13)")
  get_filename_component(LOOM_NVIDIA_DIR "${LOOM_CUDA_ROOT}" DIRECTORY)
  target_include_directories(loom_torch SYSTEM INTERFACE "${LOOM_CUDA_ROOT}/include" "${LOOM_NVIDIA_DIR}/nccl/include")
  target_compile_definitions(loom_torch INTERFACE LOOM_WITH_CUDA=1 USE_C10D_NCCL)
endif()

find_package(Threads REQUIRED)
find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()

# One precompiled header with the LibTorch surface most of Loom includes.
add_library(loom_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/pch.cc)
target_link_libraries(loom_pch PUBLIC loom_torch)
target_compile_options(loom_pch PRIVATE ${LOOM_WARNINGS} ${LOOM_COMMON_FLAGS})
target_precompile_headers(loom_pch PRIVATE
  <torch/torch.h>
  <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
  <torch/csrc/distributed/c10d/PrefixStore.hpp>
  <torch/csrc/distributed/c10d/TCPStore.hpp>
  <torch/csrc/distributed/c10d/HashStore.hpp>
  <string> <vector> <memory> <chrono> <functional>)
