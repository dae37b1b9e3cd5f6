#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sieve::cli {

bool StderrIsTerminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

ProgressBar::ProgressBar(std::size_t total, std::string label)
    : total_(total), label_(std::move(label)), enabled_(StderrIsTerminal() && total > 1) {}

ProgressBar::~ProgressBar() {
  Clear();
}

void ProgressBar::Clear() {
  if (!drawn_) return;
  std::fputs("\r\033[2K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void ProgressBar::Update(std::size_t done, std::string_view current) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  // Redraw at most ~20 times a second, and always at the end.
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(50)) return;
  last_draw_ = now;
  constexpr std::size_t kWidth = 30;
  std::size_t filled = total_ ? kWidth * done / total_ : kWidth;
  std::string bar(filled, '#');
  bar.resize(kWidth, ' ');
  std::string name(current.substr(current.size() > 40 ? current.size() - 40 : 0));
  std::fprintf(stderr, "\r\033[2K[%s] %zu/%zu %s %s", bar.c_str(), done, total_, label_.c_str(),
               name.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace sieve::cli
