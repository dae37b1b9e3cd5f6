// The encoder's Linear layers, BLAS sgemm (weights packed on every call) against nn::LinearPacked
// (weights packed once) and nn::LinearInt8 (int8 weights, activations quantised per call;
// "GFLOP/s" then counts multiply-adds as 2 operations too), on bge-small's shapes: QKV [1152 x
// 384], FFN up [1536 x 384], FFN down [384 x 1536], for a 16-token query (m = 16) and a batch of
// passages (m = 4096).
//   build/bench/gemm_bench --benchmark_counters_tabular=true
// Args: m, n, k, threads. GFLOP/s counts 2·m·n·k per call.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "nn/arena.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/quant.h"
#include "nn/thread_pool.h"

namespace {

struct Problem {
  std::size_t m, n, k;
  std::vector<float> x, w, bias, y;
  explicit Problem(const benchmark::State& state)
      : m(static_cast<std::size_t>(state.range(0))),
        n(static_cast<std::size_t>(state.range(1))),
        k(static_cast<std::size_t>(state.range(2))),
        x(m * k),
        w(n * k),
        bias(n),
        y(m * n) {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    for (float& v : x) v = normal(rng);
    for (float& v : w) v = normal(rng) * 0.05f;
    for (float& v : bias) v = normal(rng);
  }
  void Count(benchmark::State& state) const {
    state.counters["GFLOP/s"] = benchmark::Counter(
        2.0 * static_cast<double>(m * n * k) * static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate);
  }
};

void BM_BlasLinear(benchmark::State& state) {
  Problem p(state);
  sieve::nn::UseSingleThreadedGemm();
  sieve::nn::ThreadPool pool(static_cast<std::size_t>(state.range(3)));
  for (auto _ : state) {
    sieve::nn::Linear(p.x.data(), p.w.data(), p.bias.data(), p.y.data(), p.m, p.n, p.k, &pool);
    benchmark::ClobberMemory();
  }
  p.Count(state);
}

void BM_PackedLinear(benchmark::State& state) {
  Problem p(state);
  sieve::nn::ThreadPool pool(static_cast<std::size_t>(state.range(3)));
  const auto packed = sieve::nn::PackedMatrix::Pack(p.w.data(), p.n, p.k);
  for (auto _ : state) {
    sieve::nn::LinearPacked(p.x.data(), packed, p.bias.data(), p.y.data(), p.m, &pool);
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(sieve::nn::GemmKernelName(packed.kernel())));
  p.Count(state);
}

void BM_Int8Linear(benchmark::State& state) {
  Problem p(state);
  sieve::nn::ThreadPool pool(static_cast<std::size_t>(state.range(3)));
  const auto quantised = sieve::nn::Int8Matrix::Quantize(p.w.data(), p.n, p.k);
  sieve::nn::Arena arena;
  float* scratch = arena.Allocate(sieve::nn::LinearInt8ScratchFloats(p.m, p.k));
  for (auto _ : state) {
    sieve::nn::LinearInt8(p.x.data(), quantised, p.bias.data(), p.y.data(), p.m, scratch, &pool);
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(sieve::nn::Int8KernelName(quantised.kernel())));
  p.Count(state);
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (long threads : {1, 2}) {
    for (long m : {16, 4096}) {
      b->Args({m, 1152, 384, threads});
      b->Args({m, 1536, 384, threads});
      b->Args({m, 384, 1536, threads});
    }
  }
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK(BM_BlasLinear)->Apply(Shapes);
BENCHMARK(BM_PackedLinear)->Apply(Shapes);
BENCHMARK(BM_Int8Linear)->Apply(Shapes);

}  // namespace

BENCHMARK_MAIN();
