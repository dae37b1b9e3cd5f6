#include "core/log.h"

namespace sieve {

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kNote:
      return "note";
    case LogLevel::kWarning:
      return "warning";
  }
  return "note";
}

}  // namespace sieve
