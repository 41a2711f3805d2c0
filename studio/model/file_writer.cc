#include "studio/model/file_writer.h"

#include <filesystem>
#include <fstream>

#include "studio/model/ui_thread.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace loom::studio {

FileWriter::FileWriter() : worker_([this] { Run(); }) {}

FileWriter::~FileWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void FileWriter::WriteText(std::string path, std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.push_back({std::move(path), std::move(text), {}, false});
  wake_.notify_all();
}

void FileWriter::WritePng(std::string path, RgbaImage image) {
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.push_back({std::move(path), {}, std::move(image), true});
  wake_.notify_all();
}

void FileWriter::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return jobs_.empty() && !busy_; });
}

std::vector<std::string> FileWriter::Done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

void FileWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) break;  // stop_ and nothing left
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    NoteWorkerCall();
    std::string result;
    std::error_code ec;
    const auto parent = std::filesystem::path(job.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    bool ok = false;
    if (job.png) {
      const auto& im = job.image;
      ok = im.width > 0 && im.height > 0 &&
           stbi_write_png(job.path.c_str(), im.width, im.height, 4, im.pixels.data(), im.width * 4) != 0;
    } else {
      std::ofstream out(job.path, std::ios::binary | std::ios::trunc);
      out << job.text;
      ok = static_cast<bool>(out.flush());
    }
    result = ok ? "wrote " + job.path : "cannot write " + job.path + ": check the folder exists and is writable";
    lock.lock();
    done_.push_back(std::move(result));
    busy_ = false;
    idle_.notify_all();
  }
}

}  // namespace loom::studio
