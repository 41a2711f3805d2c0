#include "studio/app/platform.h"

#include <GLFW/glfw3.h>

#include <algorithm>
#include <stdexcept>

#include "imgui.h"
#include "imgui_impl_glfw.h"
#include "imgui_impl_opengl3.h"

namespace loom::studio {
namespace {

std::string last_glfw_error;
void OnGlfwError(int code, const char* what) { last_glfw_error = std::to_string(code) + ": " + what; }

}  // namespace

Window::Window(int width, int height, const std::string& title, bool vsync) {
  glfwSetErrorCallback(OnGlfwError);
  if (!glfwInit())
    throw std::runtime_error("cannot start GLFW (" + last_glfw_error +
                             "); is there a display? Headless: run under `xvfb-run -a -s \"-screen 0 1280x800x24\"`");
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  window_ = glfwCreateWindow(width, height, title.c_str(), nullptr, nullptr);
  if (!window_) {
    glfwTerminate();
    throw std::runtime_error("cannot open a " + std::to_string(width) + "x" + std::to_string(height) +
                             " OpenGL 3.3 window (" + last_glfw_error + "); needs Mesa (apt-get install libgl1-mesa-dri)");
  }
  glfwMakeContextCurrent(window_);
  glfwSwapInterval(vsync ? 1 : 0);
  ImGui_ImplGlfw_InitForOpenGL(window_, true);
  ImGui_ImplOpenGL3_Init("#version 330");
}

Window::~Window() {
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  glfwDestroyWindow(window_);
  glfwTerminate();
}

bool Window::ShouldClose() const { return glfwWindowShouldClose(window_); }

void Window::BeginFrame() {
  glfwPollEvents();
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
}

void Window::Render() {
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  glViewport(0, 0, w, h);
  glClearColor(0.11f, 0.11f, 0.12f, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
}

void Window::Swap() { glfwSwapBuffers(window_); }

int Window::width() const {
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  return w;
}

int Window::height() const {
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  return h;
}

RgbaImage Window::Read(float x, float y, float w, float h) const {
  const int fw = width(), fh = height();
  const int x0 = std::clamp(static_cast<int>(x), 0, fw), y0 = std::clamp(static_cast<int>(y), 0, fh);
  const int x1 = std::clamp(static_cast<int>(x + w), 0, fw), y1 = std::clamp(static_cast<int>(y + h), 0, fh);
  RgbaImage image;
  image.width = x1 - x0;
  image.height = y1 - y0;
  if (image.width <= 0 || image.height <= 0) return image;
  std::vector<uint8_t> rows(static_cast<size_t>(image.width) * image.height * 4);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  // GL's origin is the bottom-left corner: read, then flip to top row first.
  glReadPixels(x0, fh - y1, image.width, image.height, GL_RGBA, GL_UNSIGNED_BYTE, rows.data());
  image.pixels.resize(rows.size());
  const size_t stride = static_cast<size_t>(image.width) * 4;
  for (int r = 0; r < image.height; ++r)
    std::copy_n(rows.data() + (image.height - 1 - r) * stride, stride, image.pixels.data() + r * stride);
  for (size_t i = 3; i < image.pixels.size(); i += 4) image.pixels[i] = 255;  // opaque
  return image;
}

}  // namespace loom::studio
