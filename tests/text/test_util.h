// Helpers shared by the text stage's tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "support/temp_dir.h"

namespace sieve::text::testing {

inline std::filesystem::path FixturePath(const std::string& name) {
  return std::filesystem::path(SIEVE_SOURCE_DIR) / "tests/data/text" / name;
}

// A fresh temporary folder per test (tests/support/temp_dir.h).
using sieve::testing_support::TempDir;

}  // namespace sieve::text::testing
