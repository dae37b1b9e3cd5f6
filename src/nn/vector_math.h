// nn/vector_math.h: element-wise float math of the encoder (GELU's erf, softmax's exp), with an
// AVX2+FMA path chosen at run time by CPU features and a portable path (libm).
//
// Accuracy of the AVX2 path (tests/nn/vector_math_test.cpp checks it against libm in double on a
// dense grid): GELU within 2e-6 · max(1, |y|); exp within 3e-7 relative on [−87, 0], 0 below −87.
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

}  // namespace sieve::nn
