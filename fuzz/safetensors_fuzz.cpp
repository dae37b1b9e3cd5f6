// libFuzzer target: ParseSafetensorsHeader on arbitrary bytes must never crash, and whatever it
// accepts must keep its promises (every tensor span inside the data region, sizes consistent).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "models/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto header = sieve::models::ParseSafetensorsHeader(bytes);
  if (!header.ok()) return 0;
  if (header->data_offset > size) std::abort();
  const std::size_t data_size = size - header->data_offset;
  for (const auto& [name, info] : header->tensors) {
    if (info.begin > info.end || info.end > data_size) std::abort();
  }
  return 0;
}
