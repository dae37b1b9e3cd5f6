// models/safetensors.h: reading Hugging Face .safetensors files safely.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data
// region (offsets are relative to its start). Everything in the header is validated before any
// tensor is touched: length within the file, JSON shape, known dtypes, shape × dtype size == span,
// spans inside the data region and not overlapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sieve::models {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3, kF8E5M2 };
const char* DTypeName(DType dtype);

struct TensorInfo {
  DType dtype = DType::kF32;
  std::vector<std::size_t> shape;
  std::size_t begin = 0;  // byte offsets relative to the data region
  std::size_t end = 0;
  std::size_t element_count() const;
};

struct SafetensorsHeader {
  std::size_t data_offset = 0;  // where the data region starts in the file (8 + N)
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses and validates the header of a whole safetensors file given as bytes. Pure (no I/O), so
// the fuzzer can call it. Fails with kInvalidInput saying what is wrong.
Result<SafetensorsHeader> ParseSafetensorsHeader(std::string_view file_bytes);

// A memory-mapped, validated safetensors file.
class SafetensorsFile {
 public:
  static Result<SafetensorsFile> Open(const std::filesystem::path& path);
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const SafetensorsHeader& header() const { return header_; }
  bool Contains(const std::string& name) const { return header_.tensors.count(name) != 0; }
  // The tensor converted to float32 (F32, F16, BF16 accepted). Its shape must equal
  // `expected_shape`; errors name the file, the tensor and the mismatch.
  Result<std::vector<float>> ReadFloat32(const std::string& name,
                                         const std::vector<std::size_t>& expected_shape) const;
  // The tensor's values in place, inside the mapping, when it is F32 and 4-byte aligned; null
  // (not an error) for other dtypes or alignments, which ReadFloat32 converts. Same checks and
  // errors as ReadFloat32. The pointer is valid while this object lives.
  Result<const float*> MappedFloat32(const std::string& name,
                                     const std::vector<std::size_t>& expected_shape) const;

 private:
  SafetensorsFile() = default;
  Result<const TensorInfo*> Find(const std::string& name,
                                 const std::vector<std::size_t>& expected_shape) const;
  std::string path_;
  const unsigned char* bytes_ = nullptr;
  std::size_t size_ = 0;
  SafetensorsHeader header_;
};

// "[2, 3]" for messages.
std::string ShapeToString(const std::vector<std::size_t>& shape);

}  // namespace sieve::models
