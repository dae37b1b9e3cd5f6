// fma_peak: this CPU's measured float32 FMA peak (GFLOP/s), the yardstick of bench/RESULTS.md.
//
//   build/bench/fma_peak [threads=2] [seconds=1]
//
// Each thread runs 12 independent chains of 8-wide AVX2 FMAs (enough to cover FMA latency on
// two pipes) for about `seconds`; FLOPs = iterations x 12 chains x 8 lanes x 2. Prints one JSON
// line: {"threads":T,"gflops":G,"gflops_cpu":C,"isa":"avx2+fma"}: G from wall-clock time, C
// from each thread's own CPU time (CLOCK_THREAD_CPUTIME_ID) times T, i.e. what the cores give
// when they are not shared; on a loaded machine G falls and C does not. Falls back to a scalar-FMA
// loop (isa "scalar") on CPUs without AVX2/FMA. AVX-512 is not used: the peak reported is that of
// the widest FMA this program exercises, which it names.
#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 12;

// Twelve named accumulators (not an array) so they stay in registers at -O2.
__attribute__((target("avx2,fma"))) double RunAvx2(long iterations) {
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-7f);
  __m256 c0 = _mm256_set1_ps(0.01f), c1 = _mm256_set1_ps(0.02f), c2 = _mm256_set1_ps(0.03f);
  __m256 c3 = _mm256_set1_ps(0.04f), c4 = _mm256_set1_ps(0.05f), c5 = _mm256_set1_ps(0.06f);
  __m256 c6 = _mm256_set1_ps(0.07f), c7 = _mm256_set1_ps(0.08f), c8 = _mm256_set1_ps(0.09f);
  __m256 c9 = _mm256_set1_ps(0.10f), c10 = _mm256_set1_ps(0.11f), c11 = _mm256_set1_ps(0.12f);
  for (long i = 0; i < iterations; ++i) {
    c0 = _mm256_fmadd_ps(c0, a, b);
    c1 = _mm256_fmadd_ps(c1, a, b);
    c2 = _mm256_fmadd_ps(c2, a, b);
    c3 = _mm256_fmadd_ps(c3, a, b);
    c4 = _mm256_fmadd_ps(c4, a, b);
    c5 = _mm256_fmadd_ps(c5, a, b);
    c6 = _mm256_fmadd_ps(c6, a, b);
    c7 = _mm256_fmadd_ps(c7, a, b);
    c8 = _mm256_fmadd_ps(c8, a, b);
    c9 = _mm256_fmadd_ps(c9, a, b);
    c10 = _mm256_fmadd_ps(c10, a, b);
    c11 = _mm256_fmadd_ps(c11, a, b);
  }
  const __m256 sum =
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                                  _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7))),
                    _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  double total = 0;
  for (float v : lanes) total += v;
  return total;
}

double RunScalar(long iterations) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = 0.001f * static_cast<float>(c);
  for (long i = 0; i < iterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = std::fma(acc[c], 0.999999f, 1e-7f);
  }
  double total = 0;
  for (float v : acc) total += v;
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const int lanes = avx2 ? 8 : 1;
  auto run = [&](long n) { return avx2 ? RunAvx2(n) : RunScalar(n); };

  // Calibrate on one thread: iterations for about `seconds`.
  long iterations = 1 << 20;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    volatile double sink = run(iterations);
    (void)sink;
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (took > 0.1) {
      iterations = static_cast<long>(static_cast<double>(iterations) * seconds / took);
      break;
    }
    iterations *= 4;
  }
  std::atomic<double> sink{0};
  std::atomic<double> cpu_seconds{0};
  std::vector<std::thread> pool;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      timespec begin{}, end{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &begin);
      const double v = run(iterations);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
      sink.store(v);
      const double cpu = static_cast<double>(end.tv_sec - begin.tv_sec) +
                         1e-9 * static_cast<double>(end.tv_nsec - begin.tv_nsec);
      double seen = cpu_seconds.load();
      while (!cpu_seconds.compare_exchange_weak(seen, seen + cpu)) {
      }
    });
  }
  for (auto& thread : pool) thread.join();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops = static_cast<double>(iterations) * kChains * lanes * 2.0 * threads;
  // Per-thread CPU time: flops / (total CPU seconds / threads) = rate with the cores unshared.
  const double cpu_rate = flops / (cpu_seconds.load() / threads) / 1e9;
  std::printf("{\"threads\":%d,\"gflops\":%.1f,\"gflops_cpu\":%.1f,\"isa\":\"%s\",\"check\":%g}\n",
              threads, flops / took / 1e9, cpu_rate, avx2 ? "avx2+fma" : "scalar",
              sink.load() > 0 ? 1.0 : 0.0);
  return 0;
}
