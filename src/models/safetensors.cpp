#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace sieve::models {
namespace {

using Json = nlohmann::json;

// The reference implementation refuses headers over 100 MB; so do we.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeEntry {
  const char* name;
  DType dtype;
  std::size_t bytes;
};
constexpr DTypeEntry kDTypes[] = {
    {"F64", DType::kF64, 8},   {"F32", DType::kF32, 4},        {"F16", DType::kF16, 2},
    {"BF16", DType::kBF16, 2}, {"I64", DType::kI64, 8},        {"I32", DType::kI32, 4},
    {"I16", DType::kI16, 2},   {"I8", DType::kI8, 1},          {"U8", DType::kU8, 1},
    {"BOOL", DType::kBool, 1}, {"F8_E4M3", DType::kF8E4M3, 1}, {"F8_E5M2", DType::kF8E5M2, 1},
};

Status Invalid(const std::string& what) {
  return Status::InvalidInput("safetensors header: " + what);
}

Result<TensorInfo> ParseTensorEntry(const std::string& name, const Json& entry,
                                    std::size_t data_size) {
  const std::string where = "tensor '" + name + "'";
  if (!entry.is_object()) return Invalid(where + " is not an object");
  for (const auto& [key, value] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return Invalid(where + " has unexpected field '" + key + "'");
    }
  }
  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return Invalid(where + " has no string 'dtype'");
  }
  TensorInfo info;
  const std::string dtype_name = dtype_it->get<std::string>();
  const DTypeEntry* dtype = nullptr;
  for (const auto& candidate : kDTypes) {
    if (dtype_name == candidate.name) dtype = &candidate;
  }
  if (dtype == nullptr) return Invalid(where + " has unknown dtype '" + dtype_name + "'");
  info.dtype = dtype->dtype;

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return Invalid(where + " has no 'shape' array");
  }
  std::size_t elements = 1;
  bool overflow = false;
  for (const Json& dim : *shape_it) {
    if (!dim.is_number_unsigned()) {
      return Invalid(where + " has a shape entry that is not a non-negative integer");
    }
    const std::uint64_t d = dim.get<std::uint64_t>();
    info.shape.push_back(static_cast<std::size_t>(d));
    if (d != 0 && elements > std::numeric_limits<std::size_t>::max() / d) overflow = true;
    elements *= static_cast<std::size_t>(d);
  }
  if (!overflow && elements > std::numeric_limits<std::size_t>::max() / dtype->bytes) {
    overflow = true;
  }
  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
    return Invalid(where + " needs 'data_offsets' [begin, end] of non-negative integers");
  }
  const std::uint64_t begin = (*offsets_it)[0].get<std::uint64_t>();
  const std::uint64_t end = (*offsets_it)[1].get<std::uint64_t>();
  if (begin > end) return Invalid(where + " has data_offsets with begin after end");
  if (end > data_size) {
    return Invalid(where + " has data_offsets [" + std::to_string(begin) + ", " +
                   std::to_string(end) + "] past the end of the data (" +
                   std::to_string(data_size) + " bytes)");
  }
  if (overflow || elements * dtype->bytes != end - begin) {
    return Invalid(where + " shape " + ShapeToString(info.shape) + " of " + dtype->name +
                   " does not match its data_offsets span of " + std::to_string(end - begin) +
                   " bytes");
  }
  info.begin = static_cast<std::size_t>(begin);
  info.end = static_cast<std::size_t>(end);
  return info;
}

float HalfToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise it
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float result;
  std::memcpy(&result, &bits, sizeof(result));
  return result;
}

}  // namespace

const char* DTypeName(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "?";
}

std::size_t TensorInfo::element_count() const {
  std::size_t count = 1;
  for (std::size_t d : shape) count *= d;
  return count;
}

std::string ShapeToString(const std::vector<std::size_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

Result<SafetensorsHeader> ParseSafetensorsHeader(std::string_view file_bytes) {
  if (file_bytes.size() < 8) {
    return Invalid("file is " + std::to_string(file_bytes.size()) +
                   " bytes, too short for the 8-byte header length (truncated file?)");
  }
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) {
    header_length = (header_length << 8) | static_cast<unsigned char>(file_bytes[i]);
  }
  if (header_length > kMaxHeaderBytes) {
    return Invalid("header length " + std::to_string(header_length) + " is over the 100 MB limit");
  }
  if (header_length > file_bytes.size() - 8) {
    return Invalid("header length " + std::to_string(header_length) + " runs past the end of the " +
                   std::to_string(file_bytes.size()) + "-byte file (truncated file?)");
  }
  const std::string_view text = file_bytes.substr(8, static_cast<std::size_t>(header_length));
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Invalid("header is not valid JSON");
  if (!json.is_object()) return Invalid("header JSON is not an object");

  SafetensorsHeader header;
  header.data_offset = 8 + static_cast<std::size_t>(header_length);
  const std::size_t data_size = file_bytes.size() - header.data_offset;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Invalid("__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) return Invalid("__metadata__ value '" + key + "' is not a string");
        header.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    SIEVE_ASSIGN_OR_RETURN(TensorInfo info, ParseTensorEntry(name, entry, data_size));
    header.tensors.emplace(name, std::move(info));
  }

  std::vector<std::pair<const std::string*, const TensorInfo*>> by_offset;
  for (const auto& [name, info] : header.tensors) by_offset.emplace_back(&name, &info);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return a.second->begin != b.second->begin ? a.second->begin < b.second->begin
                                              : a.second->end < b.second->end;
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev_name, prev] = by_offset[i - 1];
    const auto& [name, info] = by_offset[i];
    if (info->begin < prev->end && info->begin != info->end && prev->begin != prev->end) {
      return Invalid("tensors '" + *prev_name + "' and '" + *name + "' overlap");
    }
  }
  return header;
}

Result<SafetensorsFile> SafetensorsFile::Open(const std::filesystem::path& path) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return Status::NotFound(name + ": no such file");
    return Status::IoError(name + ": " + std::strerror(error));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return Status::IoError(name + ": " + std::strerror(error));
  }
  SafetensorsFile file;
  file.path_ = name;
  file.size_ = static_cast<std::size_t>(st.st_size);
  if (file.size_ > 0) {
    void* mapping = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      return Status::IoError(name + ": mmap failed: " + std::strerror(error));
    }
    file.bytes_ = static_cast<const unsigned char*>(mapping);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  auto header = ParseSafetensorsHeader(
      std::string_view(reinterpret_cast<const char*>(file.bytes_), file.size_));
  if (!header.ok()) return header.status().WithContext(name);
  file.header_ = std::move(header).value();
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      bytes_(std::exchange(other.bytes_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      header_(std::move(other.header_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (bytes_ != nullptr) ::munmap(const_cast<unsigned char*>(bytes_), size_);
    path_ = std::move(other.path_);
    bytes_ = std::exchange(other.bytes_, nullptr);
    size_ = std::exchange(other.size_, 0);
    header_ = std::move(other.header_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (bytes_ != nullptr) ::munmap(const_cast<unsigned char*>(bytes_), size_);
}

Result<const TensorInfo*> SafetensorsFile::Find(
    const std::string& name, const std::vector<std::size_t>& expected_shape) const {
  auto it = header_.tensors.find(name);
  if (it == header_.tensors.end()) {
    return Status::InvalidInput(path_ + ": tensor '" + name + "' is missing");
  }
  const TensorInfo& info = it->second;
  if (info.shape != expected_shape) {
    return Status::InvalidInput(path_ + ": tensor '" + name + "' has shape " +
                                ShapeToString(info.shape) + " but the config implies " +
                                ShapeToString(expected_shape));
  }
  return &info;
}

Result<const float*> SafetensorsFile::MappedFloat32(
    const std::string& name, const std::vector<std::size_t>& expected_shape) const {
  SIEVE_ASSIGN_OR_RETURN(const TensorInfo* info, Find(name, expected_shape));
  if (info->dtype != DType::kF32) return static_cast<const float*>(nullptr);
  const unsigned char* data = bytes_ + header_.data_offset + info->begin;
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(float) != 0) {
    return static_cast<const float*>(nullptr);
  }
  return reinterpret_cast<const float*>(data);  // little-endian host
}

Result<std::vector<float>> SafetensorsFile::ReadFloat32(
    const std::string& name, const std::vector<std::size_t>& expected_shape) const {
  SIEVE_ASSIGN_OR_RETURN(const TensorInfo* found, Find(name, expected_shape));
  const TensorInfo& info = *found;
  const std::size_t count = info.element_count();
  std::vector<float> values(count);
  const unsigned char* data = bytes_ + header_.data_offset + info.begin;
  switch (info.dtype) {
    case DType::kF32:
      std::memcpy(values.data(), data, count * sizeof(float));  // little-endian host
      break;
    case DType::kF16:
      for (std::size_t i = 0; i < count; ++i) {
        values[i] = HalfToFloat(static_cast<std::uint16_t>(data[2 * i] | (data[2 * i + 1] << 8)));
      }
      break;
    case DType::kBF16:
      for (std::size_t i = 0; i < count; ++i) {
        const std::uint32_t bits = static_cast<std::uint32_t>(data[2 * i] | (data[2 * i + 1] << 8))
                                   << 16;
        std::memcpy(&values[i], &bits, sizeof(float));
      }
      break;
    default:
      return Status::Unsupported(path_ + ": tensor '" + name + "' has dtype " +
                                 DTypeName(info.dtype) + "; only F32, F16 and BF16 are supported");
  }
  return values;
}

}  // namespace sieve::models
