// FileWriter: writes exports (CSV, PNG) on a worker, so a click on "Export"
// never stalls a frame on the disk. Results (the path written, or why not)
// are kept for the UI's status line.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loom::studio {

struct RgbaImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height][width][4], top row first
};

class FileWriter {
 public:
  FileWriter();
  ~FileWriter();  // writes what is queued, then joins
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  void WriteText(std::string path, std::string text);
  void WritePng(std::string path, RgbaImage image);
  void Flush();  // waits until the queue is empty (tests and the headless mode only)

  std::vector<std::string> Done() const;  // "wrote PATH" or "cannot write PATH: why", in order

 private:
  struct Job {
    std::string path, text;
    RgbaImage image;
    bool png = false;
  };
  void Run();

  mutable std::mutex mu_;
  std::condition_variable wake_, idle_;
  bool stop_ = false, busy_ = false;
  std::deque<Job> jobs_;
  std::vector<std::string> done_;
  std::thread worker_;
};

}  // namespace loom::studio
