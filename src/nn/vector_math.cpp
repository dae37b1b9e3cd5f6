#include "nn/vector_math.h"

#include <cmath>

#include "nn/simd_math.h"

namespace sieve::nn {
namespace {

#ifdef SIEVE_NN_X86
using simd::ErfAvx2;
using simd::ExpAvx2;
#endif

constexpr float kInvSqrt2 = 0.70710678118654752440f;

#ifdef SIEVE_NN_X86
__attribute__((target("avx2,fma"))) void GeluErfAvx2(float* x, std::size_t n) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 inv_sqrt2 = _mm256_set1_ps(kInvSqrt2);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 e = ErfAvx2(_mm256_mul_ps(v, inv_sqrt2));
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
  }
  if (i < n) {
    alignas(32) float tail[8] = {};
    for (std::size_t j = i; j < n; ++j) tail[j - i] = x[j];
    const __m256 v = _mm256_load_ps(tail);
    const __m256 e = ErfAvx2(_mm256_mul_ps(v, inv_sqrt2));
    _mm256_store_ps(tail, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
    for (std::size_t j = i; j < n; ++j) x[j] = tail[j - i];
  }
}

__attribute__((target("avx2,fma"))) float ExpShiftedAvx2(float* x, std::size_t n, float shift) {
  const __m256 shift_vec = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift_vec));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  if (i < n) {
    alignas(32) float tail[8];
    for (std::size_t j = 0; j < 8; ++j) tail[j] = i + j < n ? x[i + j] - shift : -100.0f;
    _mm256_store_ps(tail, ExpAvx2(_mm256_load_ps(tail)));
    for (std::size_t j = i; j < n; ++j) {
      x[j] = tail[j - i];
      total += x[j];
    }
  }
  return total;
}
#endif  // SIEVE_NN_X86

}  // namespace

std::string_view MathPathName(MathPath path) {
  return path == MathPath::kAvx2 ? "avx2" : "scalar";
}

std::vector<MathPath> SupportedMathPaths() {
  std::vector<MathPath> paths{MathPath::kScalar};
#ifdef SIEVE_NN_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    paths.push_back(MathPath::kAvx2);
  }
#endif
  return paths;
}

MathPath BestMathPath() {
  static const MathPath best = SupportedMathPaths().back();
  return best;
}

void GeluErfInPlace(float* x, std::size_t n, MathPath path) {
#ifdef SIEVE_NN_X86
  if (path == MathPath::kAvx2) {
    GeluErfAvx2(x, n);
    return;
  }
#endif
  for (std::size_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
}

float ExpShiftedInPlace(float* x, std::size_t n, float shift, MathPath path) {
#ifdef SIEVE_NN_X86
  if (path == MathPath::kAvx2) return ExpShiftedAvx2(x, n, shift);
#endif
  float sum = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

}  // namespace sieve::nn
