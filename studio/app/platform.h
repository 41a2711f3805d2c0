// The studio's window: GLFW + OpenGL 3 + Dear ImGui's backends, and reading
// back the framebuffer (screenshots, PNG export of a chart).
#pragma once

#include <string>

#include "studio/model/file_writer.h"

struct GLFWwindow;

namespace loom::studio {

class Window {
 public:
  // Throws std::runtime_error naming what is missing (no display: run under xvfb-run).
  Window(int width, int height, const std::string& title, bool vsync);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  bool ShouldClose() const;
  void BeginFrame();  // poll events, start the backends' frame
  void Render();      // clear, draw ImGui's draw data (after ImGui::Render)
  void Swap();
  // Pixels of a rectangle in ImGui's coordinates (top-left origin), top row first.
  RgbaImage Read(float x, float y, float w, float h) const;
  int width() const;
  int height() const;

 private:
  GLFWwindow* window_ = nullptr;
};

}  // namespace loom::studio
