// TraceConfig from flags and the OpenTelemetry / Phoenix environment variables.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "trace/trace.h"

namespace sieve::trace {
namespace {

std::string Trim(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  const auto end = s.find_last_not_of(" \t");
  return std::string(s.substr(begin, end - begin + 1));
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const std::string hex(s.substr(i + 1, 2));
      char* end = nullptr;
      const long v = std::strtol(hex.c_str(), &end, 16);
      if (end == hex.c_str() + 2) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// "k=v,k2=v2" (W3C baggage-like, as the OTel variables use it).
Result<std::vector<std::pair<std::string, std::string>>> ParsePairs(const char* variable,
                                                                    std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string_view item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (Trim(item).empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || Trim(item.substr(0, eq)).empty()) {
      return Status::InvalidArgument(std::string(variable) + ": expected key=value, got \"" +
                                     std::string(item) + "\"");
    }
    out.emplace_back(PercentDecode(Trim(item.substr(0, eq))),
                     PercentDecode(Trim(item.substr(eq + 1))));
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A base URL plus "/v1/traces" (unless it already ends so).
std::string TracesUrl(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (EndsWith(base, "/v1/traces")) return base;
  return base + "/v1/traces";
}

Result<std::size_t> SizeVariable(const EnvLookup& env, const char* name, std::size_t fallback) {
  const auto value = env(name);
  if (!value || Trim(*value).empty()) return fallback;
  char* end = nullptr;
  const std::string text = Trim(*value);
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text[0] == '-' || end != text.c_str() + text.size() || v == 0) {
    return Status::InvalidArgument(std::string(name) + ": expected a positive integer, got \"" +
                                   *value + "\"");
  }
  return static_cast<std::size_t>(v);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<TraceConfig> ConfigFromEnvironment(const EnvLookup& env, const TraceFlags& flags) {
  auto get = [&env](const char* name) -> std::string {
    const auto value = env(name);
    return value ? Trim(*value) : std::string();
  };
  TraceConfig config;
  config.trace_file = flags.trace_file;

  // Endpoint.
  if (!flags.otlp_endpoint.empty()) {
    config.otlp_endpoint = TracesUrl(flags.otlp_endpoint);
  } else if (const std::string v = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !v.empty()) {
    config.otlp_endpoint = v;
  } else if (const std::string b = get("OTEL_EXPORTER_OTLP_ENDPOINT"); !b.empty()) {
    config.otlp_endpoint = TracesUrl(b);
  } else if (const std::string p = get("PHOENIX_COLLECTOR_ENDPOINT"); !p.empty()) {
    config.otlp_endpoint = TracesUrl(p);
  }
  if (flags.otlp_endpoint.empty() &&
      (Lower(get("OTEL_SDK_DISABLED")) == "true" || Lower(get("OTEL_TRACES_EXPORTER")) == "none")) {
    config.otlp_endpoint.clear();
  }

  // Headers.
  std::string headers = get("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
  const char* headers_variable = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
  if (headers.empty()) {
    headers = get("OTEL_EXPORTER_OTLP_HEADERS");
    headers_variable = "OTEL_EXPORTER_OTLP_HEADERS";
  }
  auto pairs = ParsePairs(headers_variable, headers);
  if (!pairs.ok()) return pairs.status();
  config.otlp_headers = std::move(pairs).value();
  if (const std::string key = get("PHOENIX_API_KEY"); !key.empty()) {
    config.otlp_headers.emplace_back("authorization", "Bearer " + key);
  }

  // Resource.
  auto resource_pairs = ParsePairs("OTEL_RESOURCE_ATTRIBUTES", get("OTEL_RESOURCE_ATTRIBUTES"));
  if (!resource_pairs.ok()) return resource_pairs.status();
  std::string service = "sieve";
  Attributes extra;
  for (auto& [key, value] : *resource_pairs) {
    if (key == "service.name") {
      service = value;
    } else {
      extra.emplace_back(key, value);
    }
  }
  if (const std::string v = get("OTEL_SERVICE_NAME"); !v.empty()) service = v;
  if (!flags.service_name.empty()) service = flags.service_name;
  Resource& resource = config.resource;
  resource.attributes.emplace_back("service.name", service);
  resource.attributes.emplace_back("service.version", std::string(SIEVE_VERSION));
  resource.attributes.emplace_back("telemetry.sdk.name", std::string("sieve"));
  resource.attributes.emplace_back("telemetry.sdk.language", std::string("cpp"));
  resource.attributes.emplace_back("telemetry.sdk.version", std::string(SIEVE_VERSION));
  if (const std::string project = get("PHOENIX_PROJECT_NAME"); !project.empty()) {
    resource.attributes.emplace_back("openinference.project.name", project);
  }
  for (auto& kv : extra) resource.attributes.push_back(std::move(kv));
  resource.scope_name = "sieve";
  resource.scope_version = SIEVE_VERSION;

  // Sampler.
  std::string sampler = Lower(get("OTEL_TRACES_SAMPLER"));
  if (sampler.rfind("parentbased_", 0) == 0) sampler = sampler.substr(12);
  Sampler& s = config.batch.sampler;
  if (sampler.empty() || sampler == "always_on") {
    s.kind = Sampler::Kind::kAlwaysOn;
  } else if (sampler == "always_off") {
    s.kind = Sampler::Kind::kAlwaysOff;
  } else if (sampler == "traceidratio") {
    s.kind = Sampler::Kind::kTraceIdRatio;
    s.ratio = 1.0;
    if (const std::string arg = get("OTEL_TRACES_SAMPLER_ARG"); !arg.empty()) {
      char* end = nullptr;
      const double ratio = std::strtod(arg.c_str(), &end);
      if (end != arg.c_str() + arg.size() || !(ratio >= 0.0 && ratio <= 1.0)) {
        return Status::InvalidArgument(
            "OTEL_TRACES_SAMPLER_ARG: expected a ratio in [0,1], got \"" + arg + "\"");
      }
      s.ratio = ratio;
    }
  } else {
    return Status::InvalidArgument("OTEL_TRACES_SAMPLER: unknown sampler \"" + sampler +
                                   "\" (always_on, always_off, traceidratio)");
  }

  // Queue.
  auto max_queue = SizeVariable(env, "OTEL_BSP_MAX_QUEUE_SIZE", config.batch.max_queue);
  if (!max_queue.ok()) return max_queue.status();
  auto max_batch = SizeVariable(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", config.batch.max_batch);
  if (!max_batch.ok()) return max_batch.status();
  auto delay = SizeVariable(env, "OTEL_BSP_SCHEDULE_DELAY",
                            static_cast<std::size_t>(config.batch.delay.count()));
  if (!delay.ok()) return delay.status();
  config.batch.max_queue = *max_queue;
  config.batch.max_batch = *max_batch;
  config.batch.delay = std::chrono::milliseconds(*delay);
  return config;
}

}  // namespace sieve::trace
