// libFuzzer target: sieve.toml on arbitrary bytes. ApplyConfigToml must never crash; it accepts
// the document or names the problem, and a rejected document leaves an error message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  sieve::config::Config config;
  const sieve::Status status = sieve::config::ApplyConfigToml(config, bytes, "sieve.toml");
  if (!status.ok() && status.message().empty()) std::abort();
  return 0;
}
