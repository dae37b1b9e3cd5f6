// nn/vector_math.h: element-wise and row-wise float math of the encoder (GELU's erf, softmax,
// LayerNorm), with an AVX2+FMA path chosen at run time by CPU features and a portable path (libm,
// double accumulation for LayerNorm).
//
// Accuracy of the AVX2 path (tests/nn/vector_math_test.cpp checks it against libm in double on a
// dense grid): GELU within 2e-6 · max(1, |y|); exp within 3e-7 relative on [−87, 0], 0 below −87.
// Softmax rows within 1e-6 of double; LayerNorm rows (float sums over 8 lanes) within
// 2e-5 · max(1, |y|) of double for rows of up to 4096 values.
// Thread-safety: pure functions on caller-owned memory.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace sieve::nn {

enum class MathPath { kScalar, kAvx2 };
// "scalar" / "avx2".
std::string_view MathPathName(MathPath path);
// The paths this CPU runs, portable first, fastest last.
std::vector<MathPath> SupportedMathPaths();
// The last of SupportedMathPaths().
MathPath BestMathPath();

// x[i] <- 0.5 · x[i] · (1 + erf(x[i] / √2)), torch's default "gelu".
void GeluErfInPlace(float* x, std::size_t n, MathPath path = BestMathPath());
// x[i] <- exp(x[i] − shift); returns the sum of the results. Inputs with x − shift <= −87 give
// 0 on the AVX2 path (libm's value there is below 1.7e-38).
float ExpShiftedInPlace(float* x, std::size_t n, float shift, MathPath path = BestMathPath());

// x <- softmax(x) over n values, in place (n == 0 does nothing). Entries equal to −inf get
// probability 0; a row that is all −inf becomes all zeros.
void SoftmaxInPlace(float* x, std::size_t n, MathPath path = BestMathPath());

// One row: v <- LayerNorm(v + residual) · gamma + beta over n values (residual may be null),
// biased variance as torch.nn.LayerNorm.
void AddLayerNormRow(float* v, const float* residual, const float* gamma, const float* beta,
                     std::size_t n, float eps, MathPath path = BestMathPath());

}  // namespace sieve::nn
