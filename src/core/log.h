// core/log.h: how library code says something that is not a result.
//
// The library never writes to stderr or stdout. Code that wants to report something on the side
// (an input truncated, a vector index repaired, a fallback taken) calls a Logger the caller
// installed; the default Logger drops everything. The CLI installs one that prints
// "sieve: note: ..." lines; the server installs one that goes to its log.
//
// Thread-safety: a Logger is called from any thread at once; the sink it wraps must be
// thread-safe (Logger itself holds no mutable state).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace sieve {

enum class LogLevel { kDebug, kInfo, kNote, kWarning };

const char* LogLevelName(LogLevel level);  // "debug", "info", "note", "warning"

class Logger {
 public:
  using Sink = std::function<void(LogLevel level, std::string_view message)>;

  Logger() = default;  // drops everything
  explicit Logger(Sink sink) : sink_(std::move(sink)) {}

  void Log(LogLevel level, std::string_view message) const {
    if (sink_) sink_(level, message);
  }
  void Debug(std::string_view message) const { Log(LogLevel::kDebug, message); }
  void Info(std::string_view message) const { Log(LogLevel::kInfo, message); }
  void Note(std::string_view message) const { Log(LogLevel::kNote, message); }
  void Warning(std::string_view message) const { Log(LogLevel::kWarning, message); }
  bool enabled() const { return static_cast<bool>(sink_); }

 private:
  Sink sink_;
};

}  // namespace sieve
