// Encoder throughput: sequences per second through the whole bi-encoder.
//   build-nn/bench/encoder_bench --benchmark_counters_tabular=true
// BM_TinyBgeEmbed: public Embedder API on Cranfield-like texts (tokenizer included).
// BM_BgeSmallForward: a bge-small-sized BERT (hidden 384, 12 layers, 12 heads, intermediate
// 1536, vocab 30522) with random weights built in memory; 32 sequences x 128 tokens per
// iteration, forward + CLS pooling + normalisation. Arg = threads of the nn::ThreadPool.
// BM_BgeSmallSingleText / BM_BgeSmall512Passages: the same model on one 16-token query and on 512
// passages of 64-256 tokens in length-sorted batches of 32.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "models/encoder.h"
#include "models/model_config.h"
#include "models/transformer.h"
#include "nn/arena.h"
#include "nn/kernels.h"
#include "nn/thread_pool.h"

namespace {

using sieve::models::TokenBatch;
using sieve::models::TransformerConfig;
using sieve::models::TransformerModel;

void BM_TinyBgeEmbed(benchmark::State& state) {
  const auto dir = std::filesystem::path(SIEVE_SOURCE_DIR) / "tests/data/models/tiny-bge";
  auto embedder = sieve::models::LoadEmbedder(dir);
  if (!embedder.ok()) {
    state.SkipWithError(embedder.status().ToString().c_str());
    return;
  }
  std::vector<std::string> texts;
  for (int i = 0; i < 32; ++i) {
    std::string text = "experimental investigation of the aerodynamics of a wing in a slipstream";
    for (int j = 0; j < i % 4; ++j) text += " and the boundary layer on a flat plate";
    texts.push_back(text);
  }
  for (auto _ : state) {
    auto vectors = (*embedder)->Embed(texts, false);
    benchmark::DoNotOptimize(vectors);
  }
  state.counters["seq/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * texts.size()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TinyBgeEmbed)->Unit(benchmark::kMillisecond);

TransformerConfig BgeSmallConfig() {
  TransformerConfig config;
  config.architecture_name = "BertModel";
  config.vocab_size = 30522;
  config.hidden_size = 384;
  config.num_layers = 12;
  config.num_heads = 12;
  config.intermediate_size = 1536;
  config.max_position_embeddings = 512;
  config.type_vocab_size = 2;
  return config;
}

void BM_BgeSmallForward(benchmark::State& state) {
  sieve::nn::ThreadPool pool(static_cast<std::size_t>(state.range(0)));
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const auto random_tensor =
      [&](const std::string& name,
          const std::vector<std::size_t>& shape) -> sieve::Result<std::vector<float>> {
    std::size_t count = 1;
    for (std::size_t d : shape) count *= d;
    std::vector<float> values(count);
    const bool is_norm_weight = name.ends_with("LayerNorm.weight");
    for (float& v : values) v = is_norm_weight ? 1.0f : normal(rng);
    return values;
  };
  auto model = TransformerModel::FromTensors(BgeSmallConfig(), random_tensor);
  if (!model.ok()) {
    state.SkipWithError(model.status().ToString().c_str());
    return;
  }
  const std::size_t batch_size = 32, seq_len = 128;
  TokenBatch batch;
  batch.batch = batch_size;
  batch.seq_len = seq_len;
  std::uniform_int_distribution<std::int32_t> token(1000, 30000);
  for (std::size_t i = 0; i < batch_size * seq_len; ++i) batch.input_ids.push_back(token(rng));
  batch.token_type_ids.assign(batch_size * seq_len, 0);
  batch.attention_mask.assign(batch_size * seq_len, 1);
  sieve::nn::Arena arena;
  for (auto _ : state) {
    arena.Reset();
    auto hidden = model->Encode(batch, arena, &pool);
    auto vectors =
        sieve::models::PoolEmbeddings(*hidden, batch, 384, sieve::models::Pooling::kCls, true);
    benchmark::DoNotOptimize(vectors);
  }
  state.counters["seq/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch_size),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BgeSmallForward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Padded, length-sorted batches of random ids, as the Embedder builds them.
std::vector<TokenBatch> SortedBatches(std::vector<std::size_t> lengths, std::size_t batch_size) {
  std::sort(lengths.begin(), lengths.end());
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> token(1000, 30000);
  std::vector<TokenBatch> batches;
  for (std::size_t begin = 0; begin < lengths.size(); begin += batch_size) {
    const std::size_t end = std::min(lengths.size(), begin + batch_size);
    TokenBatch batch;
    batch.batch = end - begin;
    batch.seq_len = lengths[end - 1];
    for (std::size_t i = begin; i < end; ++i) {
      for (std::size_t t = 0; t < batch.seq_len; ++t) {
        batch.input_ids.push_back(t < lengths[i] ? token(rng) : 0);
        batch.attention_mask.push_back(t < lengths[i] ? 1 : 0);
      }
    }
    batch.token_type_ids.assign(batch.input_ids.size(), 0);
    batches.push_back(std::move(batch));
  }
  return batches;
}

// W2: one 16-token query. W1: 512 passages of 64-256 tokens in batches of 32. Arg = threads.
void RunBatches(benchmark::State& state, const std::vector<TokenBatch>& batches) {
  sieve::nn::ThreadPool pool(static_cast<std::size_t>(state.range(0)));
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const auto random_tensor =
      [&](const std::string& name,
          const std::vector<std::size_t>& shape) -> sieve::Result<std::vector<float>> {
    std::size_t count = 1;
    for (std::size_t d : shape) count *= d;
    std::vector<float> values(count);
    const bool is_norm_weight = name.ends_with("LayerNorm.weight");
    for (float& v : values) v = is_norm_weight ? 1.0f : normal(rng);
    return values;
  };
  auto model = TransformerModel::FromTensors(BgeSmallConfig(), random_tensor);
  if (!model.ok()) {
    state.SkipWithError(model.status().ToString().c_str());
    return;
  }
  sieve::nn::Arena arena;
  std::size_t sequences = 0;
  for (const TokenBatch& batch : batches) sequences += batch.batch;
  for (auto _ : state) {
    for (const TokenBatch& batch : batches) {
      arena.Reset();
      auto hidden = model->Encode(batch, arena, &pool);
      auto vectors =
          sieve::models::PoolEmbeddings(*hidden, batch, 384, sieve::models::Pooling::kCls, true);
      benchmark::DoNotOptimize(vectors);
    }
  }
  state.counters["seq/s"] = benchmark::Counter(static_cast<double>(state.iterations() * sequences),
                                               benchmark::Counter::kIsRate);
}

void BM_BgeSmallSingleText(benchmark::State& state) {
  RunBatches(state, SortedBatches({16}, 32));
}
BENCHMARK(BM_BgeSmallSingleText)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BgeSmall512Passages(benchmark::State& state) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::size_t> length(64, 256);
  std::vector<std::size_t> lengths(512);
  for (std::size_t& l : lengths) l = length(rng);
  RunBatches(state, SortedBatches(lengths, 32));
}
BENCHMARK(BM_BgeSmall512Passages)
    ->Arg(2)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
