#include "cli/command.h"

#include <charconv>
#include <cstdlib>
#include <string>
#include <utility>

namespace sieve::cli {

Result<config::Config> LoadCommandConfig(const GlobalOptions& global, config::Overrides overrides) {
  config::ConfigSources sources;
  sources.config_file = global.config_file;
  sources.overrides = std::move(overrides);
  if (global.index_dir) sources.overrides.emplace_back("index.dir", *global.index_dir);
  if (global.store) sources.overrides.emplace_back("index.store", *global.store);
  return config::LoadConfig(sources);
}

namespace {

// "must be 1 or more, got -1" (built by appending: g++ 12 at -O3 warns falsely about
// "literal" + std::string).
std::string TooSmall(long long minimum, const std::string& text) {
  std::string message = "must be ";
  message += std::to_string(minimum);
  message += " or more, got ";
  message += text;
  return message;
}

std::string NotA(const char* what, const std::string& text) {
  std::string message = "expected a ";
  message += what;
  message += ", got '";
  message += text;
  message += '\'';
  return message;
}

// A whole number >= minimum, or the reason it is not.
std::string CheckCount(const std::string& text, long long minimum) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) {
    if (!text.empty() && text.front() == '-' && stop == end) return TooSmall(minimum, text);
    if (error == std::errc::result_out_of_range && stop == end) {
      std::string message = text;
      message += " is too large";
      return message;
    }
    return NotA("whole number", text);
  }
  if (value < minimum) return TooSmall(minimum, text);
  return std::string();
}

}  // namespace

CLI::Validator PositiveCount() {
  return CLI::Validator([](std::string& text) { return CheckCount(text, 1); }, "COUNT>=1");
}

CLI::Validator NonNegativeCount() {
  return CLI::Validator([](std::string& text) { return CheckCount(text, 0); }, "COUNT>=0");
}

CLI::Validator PositiveAmount() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) return NotA("number", text);
        if (!(value > 0)) {
          std::string message = "must be more than 0, got ";
          message += text;
          return message;
        }
        return std::string();
      },
      "NUMBER>0");
}

void AddPrecisionOption(CLI::App* sub, std::optional<std::string>& target) {
  sub->add_option("--precision", target,
                  "Arithmetic of the encoders' linear layers: fp32 (default) or int8 (dynamic "
                  "quantisation; faster, approximate). An index keeps one precision")
      ->check(CLI::IsMember({"fp32", "int8"}));
}

}  // namespace sieve::cli
