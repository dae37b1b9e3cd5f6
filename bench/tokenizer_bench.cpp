// tokenizer_bench: encoding throughput on Cranfield document texts (bert-base-uncased WordPiece
// from tokenizer.json, and the SentencePiece fixture).
//   build-tok/bench/tokenizer_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

std::vector<std::string> CranfieldTexts() {
  std::vector<std::string> texts;
  std::ifstream in(SIEVE_SHARED_DIR "/data/cranfield/corpus.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_object() && doc.contains("text") && doc["text"].is_string()) {
      texts.push_back(doc["text"].get<std::string>());
    }
  }
  return texts;
}

void EncodeCorpus(benchmark::State& state, const char* model_dir) {
  auto tokenizer = sieve::tokenizer::LoadTokenizer(model_dir);
  if (!tokenizer.ok()) {
    state.SkipWithError(tokenizer.status().ToString().c_str());
    return;
  }
  const std::vector<std::string> texts = CranfieldTexts();
  if (texts.empty()) {
    state.SkipWithError("no Cranfield texts");
    return;
  }
  std::size_t tokens = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (const std::string& text : texts) {
      const auto encoding = (*tokenizer)->Encode(text, {});
      tokens += encoding.input_ids.size();
      bytes += text.size();
    }
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_WordPieceCranfield(benchmark::State& state) {
  EncodeCorpus(state, SIEVE_SHARED_DIR "/data/tokenizers/bert-base-uncased");
}
BENCHMARK(BM_WordPieceCranfield)->Unit(benchmark::kMillisecond);

void BM_SentencePieceCranfield(benchmark::State& state) {
  EncodeCorpus(state, SIEVE_SOURCE_DIR "/tests/data/tokenizer/spm");
}
BENCHMARK(BM_SentencePieceCranfield)->Unit(benchmark::kMillisecond);

// Loading: parsing tokenizer.json and building the vocabulary and WordPiece tries (part of every
// cold start of `sieve embed`).
void BM_LoadWordPiece(benchmark::State& state) {
  for (auto _ : state) {
    auto tokenizer =
        sieve::tokenizer::LoadTokenizer(SIEVE_SHARED_DIR "/data/tokenizers/bert-base-uncased");
    if (!tokenizer.ok()) {
      state.SkipWithError(tokenizer.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(tokenizer);
  }
}
BENCHMARK(BM_LoadWordPiece)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
