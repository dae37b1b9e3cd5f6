// Small, safe file helpers shared by every stage.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sieve {

// Reads a whole file. Fails with kNotFound / kIoError / kInvalidInput (over max_bytes).
Result<std::string> ReadFile(const std::filesystem::path& path,
                             std::uint64_t max_bytes = UINT64_MAX);

// Writes `data` to a temporary file beside `path`, fsyncs it and renames it over `path`, so a
// reader (or a crash) sees either the old file or the new one, never a torn write.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data);

// Lowercase hex SHA-256 of a byte string, and of a file's contents (streamed).
std::string Sha256Hex(std::string_view data);
Result<std::string> Sha256HexOfFile(const std::filesystem::path& path);

}  // namespace sieve
