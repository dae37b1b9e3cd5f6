// nn/simd_math.h (internal to nn): AVX2+FMA approximations of erf, GELU and exp shared by the
// element-wise kernels (vector_math.cpp) and the GEMMs' fused epilogues (gemm.cpp, quant.cpp).
// Accuracy is stated and tested in vector_math.h / tests/nn/vector_math_test.cpp.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIEVE_NN_X86 1
#endif

namespace sieve::nn::simd {

#ifdef SIEVE_NN_X86
// erf(x) = x · P(x²) / Q(x²) on x clamped to [−4, 4] (the rational minimax approximation Eigen
// and TensorFlow use for float erf).
__attribute__((target("avx2,fma"))) inline __m256 ErfAvx2(__m256 a) {
  const __m256 x = _mm256_max_ps(_mm256_set1_ps(-4.0f), _mm256_min_ps(_mm256_set1_ps(4.0f), a));
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.72614225801306e-10f),
                             _mm256_set1_ps(2.77068142495902e-08f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
  p = _mm256_mul_ps(x, p);
  __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(-1.45660718464996e-05f),
                             _mm256_set1_ps(-2.13374055278905e-04f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
  return _mm256_div_ps(p, q);
}

// GELU, erf form: 0.5 · v · (1 + erf(v / √2)), torch's default "gelu".
__attribute__((target("avx2,fma"))) inline __m256 GeluAvx2(__m256 v) {
  const __m256 e = ErfAvx2(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752440f)));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                       _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

// exp(x) by 2^n · e^r, n = round(x / ln 2), |r| <= ln2 / 2, Cephes' degree-5 polynomial for e^r.
// 0 for x < −87 (no denormals), x clamped at 88.
__attribute__((target("avx2,fma"))) inline __m256 ExpAvx2(__m256 x_in) {
  const __m256 x = _mm256_min_ps(x_in, _mm256_set1_ps(88.0f));
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // fx is in [−126, 127] here: a valid biased exponent once 127 is added (masked lanes aside).
  const __m256i exponent = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_max_ps(fx, _mm256_set1_ps(-126.0f))),
                       _mm256_set1_epi32(127)),
      23);
  const __m256 result = _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
  return _mm256_andnot_ps(underflow, result);
}

#endif  // SIEVE_NN_X86

}  // namespace sieve::nn::simd
