#include "nn/vector_math.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace sieve::nn {
namespace {

class MathPathTest : public testing::TestWithParam<MathPath> {};

// Against libm in double on a 1e-4 grid over [−10, 10] (every tail length 0..7 too).
TEST_P(MathPathTest, GeluErfIsWithinItsBound) {
  std::vector<float> x;
  for (double v = -10; v <= 10; v += 1e-4) x.push_back(static_cast<float>(v));
  x.push_back(0.0f);
  auto y = x;
  GeluErfInPlace(y.data(), y.size(), GetParam());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
    ASSERT_LE(std::fabs(y[i] - want), 2e-6 * std::max(1.0, std::fabs(want))) << "x = " << x[i];
  }
  for (std::size_t n = 0; n < 8; ++n) {
    std::vector<float> tail(n, 1.0f);
    GeluErfInPlace(tail.data(), n, GetParam());
    for (float v : tail) EXPECT_NEAR(v, 0.8413447f, 2e-6f);
  }
}

TEST_P(MathPathTest, ExpShiftedIsWithinItsBoundAndSums) {
  std::vector<float> x;
  for (double v = -100; v <= 0; v += 1e-3) x.push_back(static_cast<float>(v + 5.0));
  auto y = x;
  const float sum = ExpShiftedInPlace(y.data(), y.size(), 5.0f, GetParam());
  double want_sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double arg = x[i] - 5.0f;  // the float argument the function sees
    const double want = std::exp(arg);
    want_sum += want;
    if (arg >= -87.0) {
      ASSERT_LE(std::fabs(y[i] - want), 3e-7 * want) << "x = " << arg;
    } else {
      ASSERT_LE(y[i], 1.7e-38) << "x = " << arg;
    }
  }
  EXPECT_NEAR(sum, want_sum, 1e-5 * want_sum);
  for (std::size_t n = 0; n < 8; ++n) {
    std::vector<float> tail(n, 1.0f);
    EXPECT_NEAR(ExpShiftedInPlace(tail.data(), n, 1.0f, GetParam()), float(n), 1e-6f);
  }
}

// Rows of every length 0..40 and a few long ones (vector lanes and tails), with large and
// −inf entries, against softmax in double.
TEST_P(MathPathTest, SoftmaxMatchesDoublePrecision) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 8.0f);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 40; ++n) lengths.push_back(n);
  for (std::size_t n : {127, 256, 512, 1001}) lengths.push_back(n);
  for (std::size_t n : lengths) {
    std::vector<float> x(n);
    for (float& v : x) v = dist(rng);
    if (n > 3) x[n / 2] = -std::numeric_limits<float>::infinity();
    if (n > 5) x[1] = 90.0f;  // exp would overflow without the shift
    std::vector<float> y = x;
    SoftmaxInPlace(y.data(), n, GetParam());
    double max_value = -std::numeric_limits<double>::infinity();
    for (float v : x) max_value = std::max(max_value, double(v));
    double sum = 0;
    for (float v : x) sum += std::exp(double(v) - max_value);
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double want = std::exp(double(x[i]) - max_value) / sum;
      ASSERT_NEAR(y[i], want, 1e-6) << "n " << n << " i " << i;
      total += y[i];
    }
    if (n > 0) {
      EXPECT_NEAR(total, 1.0, 1e-5) << "n " << n;
    }
    if (n > 3) {
      EXPECT_EQ(y[n / 2], 0.0f);
    }
  }
  std::vector<float> none(9, -std::numeric_limits<float>::infinity());
  SoftmaxInPlace(none.data(), none.size(), GetParam());
  for (float v : none) EXPECT_EQ(v, 0.0f);
}

// LayerNorm rows (with and without residual) of lengths 1..40, 384, 768 and 4096, with an offset
// mean (where a one-pass variance would lose digits), against double precision.
TEST_P(MathPathTest, AddLayerNormRowMatchesDoublePrecision) {
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 1; n <= 40; ++n) lengths.push_back(n);
  for (std::size_t n : {384, 768, 4096}) lengths.push_back(n);
  double worst = 0;
  for (std::size_t n : lengths) {
    for (const bool with_residual : {false, true}) {
      std::vector<float> v(n), residual(n), gamma(n), beta(n);
      for (std::size_t i = 0; i < n; ++i) {
        v[i] = 50.0f + 3.0f * dist(rng);
        residual[i] = dist(rng);
        gamma[i] = 1.0f + 0.5f * dist(rng);
        beta[i] = 0.1f * dist(rng);
      }
      std::vector<double> sum(n);
      for (std::size_t i = 0; i < n; ++i) sum[i] = double(v[i]) + (with_residual ? residual[i] : 0);
      double mean = 0;
      for (double s : sum) mean += s;
      mean /= double(n);
      double variance = 0;
      for (double s : sum) variance += (s - mean) * (s - mean);
      variance /= double(n);
      std::vector<float> y = v;
      AddLayerNormRow(y.data(), with_residual ? residual.data() : nullptr, gamma.data(),
                      beta.data(), n, 1e-5f, GetParam());
      for (std::size_t i = 0; i < n; ++i) {
        const double want = (sum[i] - mean) / std::sqrt(variance + 1e-5) * gamma[i] + beta[i];
        const double error = std::fabs(y[i] - want) / std::max(1.0, std::fabs(want));
        worst = std::max(worst, error);
        ASSERT_LE(error, 2e-5) << "n " << n << " i " << i << " residual " << with_residual;
      }
    }
  }
  std::cout << "[layernorm] " << MathPathName(GetParam()) << ": worst relative error " << worst
            << "\n";
}

// The two paths agree closely on the same rows (the AVX2 path is the one the encoder runs).
TEST(MathPathAgreementTest, SoftmaxAndLayerNormPathsAgree) {
  const auto paths = SupportedMathPaths();
  if (paths.size() < 2) GTEST_SKIP() << "this CPU runs the portable path only";
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  for (std::size_t n : {1, 7, 8, 9, 33, 384}) {
    std::vector<float> x(n), gamma(n, 1.5f), beta(n, -0.25f);
    for (float& v : x) v = dist(rng);
    auto a = x, b = x;
    SoftmaxInPlace(a.data(), n, MathPath::kScalar);
    SoftmaxInPlace(b.data(), n, MathPath::kAvx2);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], 1e-6f) << n;
    a = x;
    b = x;
    AddLayerNormRow(a.data(), nullptr, gamma.data(), beta.data(), n, 1e-12f, MathPath::kScalar);
    AddLayerNormRow(b.data(), nullptr, gamma.data(), beta.data(), n, 1e-12f, MathPath::kAvx2);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], 1e-5f) << n;
  }
}

INSTANTIATE_TEST_SUITE_P(SupportedPaths, MathPathTest, testing::ValuesIn(SupportedMathPaths()),
                         [](const testing::TestParamInfo<MathPath>& info) {
                           return std::string(MathPathName(info.param));
                         });

}  // namespace
}  // namespace sieve::nn
