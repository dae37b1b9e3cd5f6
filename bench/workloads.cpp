// workloads: Sieve's side of the peer benchmark (bench/run drives it; see bench/README.md).
//
//   build/bench/workloads --workloads DIR/workloads.json [--threads 2] [--precision fp32|int8]
//
// Loads the embedder and the cross-encoder named in workloads.json through the public model API
// (models::LoadEmbedder / LoadCrossEncoder on a Hub folder), then answers one JSON request per
// line on stdin with one JSON line on stdout, like every other peer of the harness:
//   {"op":"run","w":"W1"}    -> {"ok":true,"seconds":S}        one timed pass of a workload
//   {"op":"check","w":"C1"}  -> {"ok":true,"outputs":[[...]]}  embeddings (or logits), in order
//   {"op":"rss"}             -> {"ok":true,"rss_kb":N,"hwm_kb":N}
// Texts go in as texts: Sieve's tokenizer is part of what is timed (the other peers get token
// ids). Kept to the public API on purpose, so it survives refactors of src/nn and src/models.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/encoder.h"
#include "nn/thread_pool.h"

namespace {

using json = nlohmann::json;

struct Workload {
  std::string kind;  // "embed" | "rerank"
  std::vector<std::string> texts;
  std::string query;
};

long ProcStatusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

json Fail(const std::string& message) {
  return {{"ok", false}, {"error", message}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string workloads_path, precision = "fp32";
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--workloads") workloads_path = argv[i + 1];
    if (flag == "--threads") threads = std::stoi(argv[i + 1]);
    if (flag == "--precision") precision = argv[i + 1];
  }
  if (workloads_path.empty()) {
    std::cerr << "usage: workloads --workloads FILE [--threads N] [--precision fp32|int8]\n";
    return 1;
  }
  std::ifstream file(workloads_path);
  const json doc = json::parse(file, nullptr, false);
  if (doc.is_discarded()) {
    std::cout << Fail("cannot parse " + workloads_path).dump() << std::endl;
    return 2;
  }
  auto parsed_precision = sieve::models::ParsePrecision(precision);
  if (!parsed_precision.ok()) {
    std::cout << Fail(parsed_precision.status().ToString()).dump() << std::endl;
    return 2;
  }
  // The engine's model: one ThreadPool (threads = parallelism, the caller included) that the
  // sessions run their kernels on.
  sieve::nn::ThreadPool pool(static_cast<std::size_t>(threads));

  const auto load_start = std::chrono::steady_clock::now();
  sieve::models::LoadModelOptions options;
  options.batch_size = 32;
  options.pool = &pool;
  options.precision = *parsed_precision;
  auto embedder =
      sieve::models::LoadEmbedder(doc["models"]["embedder"].get<std::string>(), options);
  auto reranker =
      sieve::models::LoadCrossEncoder(doc["models"]["cross_encoder"].get<std::string>(), options);
  if (!embedder.ok() || !reranker.ok()) {
    const auto& status = embedder.ok() ? reranker.status() : embedder.status();
    std::cout << Fail(status.ToString()).dump() << std::endl;
    return 2;
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  std::map<std::string, Workload> workloads;
  for (const auto& [name, w] : doc["workloads"].items()) {
    Workload workload;
    workload.kind = w["kind"].get<std::string>();
    if (workload.kind == "embed") {
      workload.texts = w["texts"].get<std::vector<std::string>>();
    } else {
      workload.query = w["query"].get<std::string>();
      workload.texts = w["passages"].get<std::vector<std::string>>();
    }
    workloads.emplace(name, std::move(workload));
  }
  std::cout << json{{"ok", true}, {"ready", true}, {"load_seconds", load_s}}.dump() << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    const json request = json::parse(line, nullptr, false);
    const std::string op = request.is_object() ? request.value("op", "") : "";
    if (op == "quit") break;
    if (op == "rss") {
      std::cout << json{{"ok", true},
                        {"rss_kb", ProcStatusKb("VmRSS")},
                        {"hwm_kb", ProcStatusKb("VmHWM")}}
                       .dump()
                << std::endl;
      continue;
    }
    const auto found = workloads.find(request.value("w", ""));
    if ((op != "run" && op != "check") || found == workloads.end()) {
      std::cout << Fail("bad request: " + line).dump() << std::endl;
      continue;
    }
    const Workload& w = found->second;
    json outputs = json::array();
    const auto start = std::chrono::steady_clock::now();
    if (w.kind == "embed") {
      auto vectors = (*embedder)->Embed(w.texts, /*is_query=*/false);
      if (!vectors.ok()) {
        std::cout << Fail(vectors.status().ToString()).dump() << std::endl;
        continue;
      }
      if (op == "check") outputs = *vectors;
    } else {
      auto scores = (*reranker)->Score(w.query, w.texts);
      if (!scores.ok()) {
        std::cout << Fail(scores.status().ToString()).dump() << std::endl;
        continue;
      }
      if (op == "check") {
        for (const auto& s : *scores) outputs.push_back(json::array({s.logit}));
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    json reply = {{"ok", true}, {"seconds", seconds}};
    if (op == "check") reply["outputs"] = std::move(outputs);
    std::cout << reply.dump() << std::endl;
  }
  return 0;
}
