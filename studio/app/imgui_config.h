// Dear ImGui's compile-time configuration for every studio file that
// includes imgui.h (IMGUI_USER_CONFIG, set by studio/CMakeLists.txt), so
// ImGui, ImPlot, the node editor, the Test Engine and the views agree (ODR).
#pragma once

#define IMGUI_DEFINE_MATH_OPERATORS
// ImPlot: only float and double plot calls (cuts implot_items.cpp's compile ~5x).
#define IMPLOT_CUSTOM_NUMERIC_TYPES (float)(double)

#ifdef LOOM_STUDIO_TEST_ENGINE
#define IMGUI_TEST_ENGINE_ENABLE_COROUTINE_STDTHREAD_IMPL 1
#define IMGUI_TEST_ENGINE_ENABLE_IMPLOT 0
#define IMGUI_TEST_ENGINE_ENABLE_STD_FUNCTION 1
#include "imgui_te_imconfig.h"
#endif
