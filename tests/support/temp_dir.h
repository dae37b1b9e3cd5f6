// tests/support: a fresh temporary folder per test, shared by every test folder
// (#include "support/temp_dir.h"; tests/ is on every test executable's include path).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace sieve::testing_support {

// A folder TMPDIR/<prefix>-XXXXXX made by mkdtemp (unique, mode 0700), removed with everything
// in it on destruction. path() is empty when the folder could not be made.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "sieve-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (const char* made = ::mkdtemp(pattern.data())) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `bytes` to path() / relative, making its parent folders; returns the file's path.
  std::filesystem::path Write(const std::filesystem::path& relative, std::string_view bytes) const {
    const std::filesystem::path file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace sieve::testing_support
