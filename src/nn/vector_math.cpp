#include "nn/vector_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nn/simd_math.h"

namespace sieve::nn {
namespace {

#ifdef SIEVE_NN_X86
using simd::ExpAvx2;
#endif

constexpr float kInvSqrt2 = 0.70710678118654752440f;

#ifdef SIEVE_NN_X86
__attribute__((target("avx2,fma"))) void GeluErfAvx2(float* x, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, simd::GeluAvx2(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float tail[8] = {};
    for (std::size_t j = i; j < n; ++j) tail[j - i] = x[j];
    _mm256_store_ps(tail, simd::GeluAvx2(_mm256_load_ps(tail)));
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

// Horizontal sum / max of the 8 lanes.
__attribute__((target("avx2,fma"))) inline float SumLanes(__m256 v) {
  const __m128 pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 quad = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
  return _mm_cvtss_f32(_mm_add_ss(quad, _mm_shuffle_ps(quad, quad, 1)));
}

__attribute__((target("avx2,fma"))) inline float MaxLanes(__m256 v) {
  const __m128 pair = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 quad = _mm_max_ps(pair, _mm_movehl_ps(pair, pair));
  return _mm_cvtss_f32(_mm_max_ss(quad, _mm_shuffle_ps(quad, quad, 1)));
}

// Lanes i < n of a tail mask (n < 8).
__attribute__((target("avx2,fma"))) inline __m256i TailMask(std::size_t n) {
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), index);
}

__attribute__((target("avx2,fma"))) void SoftmaxAvx2(float* x, std::size_t n) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  __m256 max_vec = _mm256_set1_ps(neg_inf);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) max_vec = _mm256_max_ps(max_vec, _mm256_loadu_ps(x + i));
  float max_value = MaxLanes(max_vec);
  for (std::size_t j = i; j < n; ++j) max_value = std::max(max_value, x[j]);
  if (max_value == neg_inf) {
    std::fill(x, x + n, 0.0f);
    return;
  }
  const float inv_sum = 1.0f / ExpShiftedAvx2(x, n, max_value);
  const __m256 scale = _mm256_set1_ps(inv_sum);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), scale));
  for (; i < n; ++i) x[i] *= inv_sum;
}

__attribute__((target("avx2,fma"))) void AddLayerNormRowAvx2(float* v, const float* residual,
                                                             const float* gamma, const float* beta,
                                                             std::size_t n, float eps) {
  const std::size_t full = n / 8 * 8;
  const __m256i tail_mask = TailMask(n - full);
  // Pass 1: v += residual, and the sum (two accumulators to shorten the dependency chain).
  __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
  std::size_t i = 0;
  if (residual != nullptr) {
    for (; i + 16 <= full; i += 16) {
      const __m256 a = _mm256_add_ps(_mm256_loadu_ps(v + i), _mm256_loadu_ps(residual + i));
      const __m256 b = _mm256_add_ps(_mm256_loadu_ps(v + i + 8), _mm256_loadu_ps(residual + i + 8));
      _mm256_storeu_ps(v + i, a);
      _mm256_storeu_ps(v + i + 8, b);
      sum0 = _mm256_add_ps(sum0, a);
      sum1 = _mm256_add_ps(sum1, b);
    }
    for (; i < full; i += 8) {
      const __m256 a = _mm256_add_ps(_mm256_loadu_ps(v + i), _mm256_loadu_ps(residual + i));
      _mm256_storeu_ps(v + i, a);
      sum0 = _mm256_add_ps(sum0, a);
    }
  } else {
    for (; i + 16 <= full; i += 16) {
      sum0 = _mm256_add_ps(sum0, _mm256_loadu_ps(v + i));
      sum1 = _mm256_add_ps(sum1, _mm256_loadu_ps(v + i + 8));
    }
    for (; i < full; i += 8) sum0 = _mm256_add_ps(sum0, _mm256_loadu_ps(v + i));
  }
  if (full < n) {
    __m256 a = _mm256_maskload_ps(v + full, tail_mask);
    if (residual != nullptr) {
      a = _mm256_add_ps(a, _mm256_maskload_ps(residual + full, tail_mask));
      _mm256_maskstore_ps(v + full, tail_mask, a);
    }
    sum0 = _mm256_add_ps(sum0, a);
  }
  const float mean = SumLanes(_mm256_add_ps(sum0, sum1)) / static_cast<float>(n);
  const __m256 mean_vec = _mm256_set1_ps(mean);
  // Pass 2: the centred sum of squares (exact two-pass form, no E[x²] − mean² cancellation).
  __m256 sq0 = _mm256_setzero_ps(), sq1 = _mm256_setzero_ps();
  for (i = 0; i + 16 <= full; i += 16) {
    const __m256 a = _mm256_sub_ps(_mm256_loadu_ps(v + i), mean_vec);
    const __m256 b = _mm256_sub_ps(_mm256_loadu_ps(v + i + 8), mean_vec);
    sq0 = _mm256_fmadd_ps(a, a, sq0);
    sq1 = _mm256_fmadd_ps(b, b, sq1);
  }
  for (; i < full; i += 8) {
    const __m256 a = _mm256_sub_ps(_mm256_loadu_ps(v + i), mean_vec);
    sq0 = _mm256_fmadd_ps(a, a, sq0);
  }
  if (full < n) {
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(v + full, tail_mask), mean_vec),
                                   _mm256_castsi256_ps(tail_mask));
    sq0 = _mm256_fmadd_ps(d, d, sq0);
  }
  const float variance = SumLanes(_mm256_add_ps(sq0, sq1)) / static_cast<float>(n);
  const float inv_std = 1.0f / std::sqrt(variance + eps);
  const __m256 inv_std_vec = _mm256_set1_ps(inv_std);
  // Pass 3: (v − mean) · inv_std · gamma + beta.
  for (i = 0; i < full; i += 8) {
    const __m256 centred =
        _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(v + i), mean_vec), inv_std_vec);
    _mm256_storeu_ps(
        v + i, _mm256_fmadd_ps(centred, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
  }
  for (; i < n; ++i) v[i] = (v[i] - mean) * inv_std * gamma[i] + beta[i];
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

void SoftmaxInPlace(float* x, std::size_t n, MathPath path) {
#ifdef SIEVE_NN_X86
  if (path == MathPath::kAvx2) {
    SoftmaxAvx2(x, n);
    return;
  }
#endif
  float max_value = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < n; ++i) max_value = std::max(max_value, x[i]);
  if (max_value == -std::numeric_limits<float>::infinity()) {
    std::fill(x, x + n, 0.0f);
    return;
  }
  const float inv_sum = 1.0f / ExpShiftedInPlace(x, n, max_value, MathPath::kScalar);
  for (std::size_t i = 0; i < n; ++i) x[i] *= inv_sum;
}

void AddLayerNormRow(float* v, const float* residual, const float* gamma, const float* beta,
                     std::size_t n, float eps, MathPath path) {
  if (n == 0) return;
#ifdef SIEVE_NN_X86
  if (path == MathPath::kAvx2) {
    AddLayerNormRowAvx2(v, residual, gamma, beta, n, eps);
    return;
  }
#endif
  if (residual != nullptr) {
    for (std::size_t i = 0; i < n; ++i) v[i] += residual[i];
  }
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += v[i];
  const double mean = sum / static_cast<double>(n);
  double squares = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = v[i] - mean;
    squares += d * d;
  }
  const double variance = squares / static_cast<double>(n);
  const float inv_std = static_cast<float>(1.0 / std::sqrt(variance + eps));
  const float mean_f = static_cast<float>(mean);
  for (std::size_t i = 0; i < n; ++i) v[i] = (v[i] - mean_f) * inv_std * gamma[i] + beta[i];
}

}  // namespace sieve::nn
