// lexical_bench: DocumentStore::SearchLexical (phrase at a time, sieve_bm25_topk) against
// SearchLexicalReference (row at a time in SQL), on an existing index, one thread.
//
//   build/bench/lexical_bench --index DIR --queries queries.jsonl [--queries-used 20]
//                             [--rounds 5] [--k 50] [--type T] [--path-prefix P]
//                             [--fast-only]
//
// The index is opened read-only. Each round runs every query once with each path, alternating
// which goes first; the first round is a warm-up. Every answer of the fast path is compared with
// the reference (same chunk ids in the same order, scores within 1e-9 relative): a mismatch
// fails the run. Prints p50/p99 milliseconds per query of each path and their ratio.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/document_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size()))) - 1;
  return values[std::min(at, values.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path index, queries_path;
  std::size_t used = 20, rounds = 5, k = 50;
  std::string type, path_prefix;  // a filter (document type, source path prefix)
  bool fast_only = false;         // for profiling: no reference runs, no comparison
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--fast-only") fast_only = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--fast-only") {
      --i;
      continue;
    }
    const std::string value = argv[i + 1];
    if (flag == "--index") index = value;
    if (flag == "--queries") queries_path = value;
    if (flag == "--queries-used") used = std::stoul(value);
    if (flag == "--rounds") rounds = std::stoul(value);
    if (flag == "--k") k = std::stoul(value);
    if (flag == "--type") type = value;
    if (flag == "--path-prefix") path_prefix = value;
  }
  if (index.empty() || queries_path.empty() || rounds < 2) {
    std::fprintf(stderr,
                 "usage: lexical_bench --index DIR --queries Q.jsonl [--queries-used N] "
                 "[--rounds N>=2] [--k N]\n");
    return 2;
  }
  std::vector<std::string> queries;
  std::ifstream in(queries_path);
  for (std::string line; std::getline(in, line) && queries.size() < used;) {
    if (!line.empty()) queries.push_back(nlohmann::json::parse(line).at("text"));
  }
  sieve::store::OpenOptions options;
  options.read_only = true;
  auto store = sieve::store::DocumentStore::Open(index, options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<double> fast_ms, reference_ms;
  std::size_t mismatches = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    for (std::size_t q = 0; q < queries.size(); ++q) {
      sieve::store::LexicalQuery query;
      query.text = queries[q];
      query.k = k;
      if (!type.empty()) query.filter.types = {type};
      query.filter.path_prefix = path_prefix;
      std::vector<sieve::store::LexicalMatch> fast, reference;
      double fast_time = 0, reference_time = 0;
      for (int pass = 0; pass < 2; ++pass) {
        const bool fast_turn = (pass == 0) == ((round + q) % 2 == 0);
        if (fast_only && !fast_turn) continue;
        const auto start = Clock::now();
        auto result =
            fast_turn ? (*store)->SearchLexical(query) : (*store)->SearchLexicalReference(query);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!result.ok()) {
          std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
          return 1;
        }
        (fast_turn ? fast : reference) = std::move(*result);
        (fast_turn ? fast_time : reference_time) = ms;
      }
      bool same = fast_only || fast.size() == reference.size();
      for (std::size_t i = 0; same && !fast_only && i < fast.size(); ++i) {
        same = fast[i].chunk_id == reference[i].chunk_id &&
               std::abs(fast[i].score - reference[i].score) <=
                   1e-9 * std::max(1.0, std::abs(reference[i].score));
      }
      if (!same && !fast_only) {
        ++mismatches;
        std::fprintf(stderr, "mismatch on query %zu: %s\n", q, queries[q].c_str());
      }
      if (round == 0) continue;  // warm-up
      fast_ms.push_back(fast_time);
      reference_ms.push_back(reference_time);
    }
  }
  std::printf("queries %zu, timed rounds %zu, k %zu, mismatches %zu\n", queries.size(), rounds - 1,
              k, mismatches);
  std::printf("reference (row at a time): p50 %.2f ms, p99 %.2f ms\n",
              Percentile(reference_ms, 0.5), Percentile(reference_ms, 0.99));
  std::printf("fast (phrase at a time):   p50 %.2f ms, p99 %.2f ms\n", Percentile(fast_ms, 0.5),
              Percentile(fast_ms, 0.99));
  std::printf("speed-up at p50: %.2fx\n", Percentile(reference_ms, 0.5) / Percentile(fast_ms, 0.5));
  return mismatches == 0 ? 0 : 1;
}
