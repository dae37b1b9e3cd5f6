#include "nn/vector_math.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
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

INSTANTIATE_TEST_SUITE_P(SupportedPaths, MathPathTest, testing::ValuesIn(SupportedMathPaths()),
                         [](const testing::TestParamInfo<MathPath>& info) {
                           return std::string(MathPathName(info.param));
                         });

}  // namespace
}  // namespace sieve::nn
