// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace sieve::cli {

class ProgressBar {
 public:
  // `total` steps; `label` names them ("files", "queries").
  ProgressBar(std::size_t total, std::string label);
  ~ProgressBar();  // clears the line
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Marks `done` steps finished; `current` names what is being worked on.
  void Update(std::size_t done, std::string_view current = {});
  // Erases the bar so a message can be printed on a clean line; the next Update redraws it.
  void Clear();
  bool enabled() const { return enabled_; }

 private:
  std::size_t total_;
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

// True when stderr is a terminal.
bool StderrIsTerminal();

}  // namespace sieve::cli
