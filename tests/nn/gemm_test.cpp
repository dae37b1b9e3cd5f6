#include "nn/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "nn/thread_pool.h"
#include "random_vector.h"

namespace sieve::nn {
namespace {

using testing_support::RandomVector;

struct Shape {
  std::size_t m, n, k;
};

// y = x · wᵀ + bias (then GELU) in double: the reference every kernel is held to.
std::vector<double> Reference(const std::vector<float>& x, const std::vector<float>& w,
                              const float* bias, const Shape& s, bool gelu) {
  std::vector<double> y(s.m * s.n);
  for (std::size_t r = 0; r < s.m; ++r) {
    for (std::size_t j = 0; j < s.n; ++j) {
      double sum = bias != nullptr ? bias[j] : 0.0;
      for (std::size_t i = 0; i < s.k; ++i) sum += double(x[r * s.k + i]) * w[j * s.k + i];
      if (gelu) sum = 0.5 * sum * (1.0 + std::erf(sum / std::sqrt(2.0)));
      y[r * s.n + j] = sum;
    }
  }
  return y;
}

// Float32 sums of k products of N(0,1) x N(0,0.05) values: a few ulp of the magnitudes involved.
double Tolerance(std::size_t k) {
  return 2e-6 * std::sqrt(double(k)) + 1e-6;
}

class GemmKernelTest : public testing::TestWithParam<GemmKernel> {};

// Shapes that cover partial tiles (m % 6), partial panels (n % 16), one and several k blocks
// (k > 384), and the single-row query case.
const Shape kShapes[] = {{1, 1, 1},    {1, 16, 7},     {5, 15, 33},   {6, 16, 384},   {7, 17, 385},
                         {16, 48, 64}, {13, 100, 800}, {97, 40, 130}, {200, 33, 1536}};

TEST_P(GemmKernelTest, MatchesDoubleReferenceWithBiasAndGelu) {
  std::mt19937 rng(11);
  for (const Shape& s : kShapes) {
    const auto x = RandomVector(s.m * s.k, rng);
    const auto w = RandomVector(s.n * s.k, rng, 0.05f);
    const auto bias = RandomVector(s.n, rng);
    const PackedMatrix packed = PackedMatrix::Pack(w.data(), s.n, s.k, GetParam());
    ASSERT_EQ(packed.rows(), s.n);
    ASSERT_EQ(packed.cols(), s.k);
    for (const bool with_bias : {false, true}) {
      for (const bool gelu : {false, true}) {
        const float* b = with_bias ? bias.data() : nullptr;
        std::vector<float> y(s.m * s.n, 1e9f);
        LinearPacked(x.data(), packed, b, y.data(), s.m, nullptr, 0, gelu);
        const auto expected = Reference(x, w, b, s, gelu);
        double worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) {
          worst =
              std::max(worst, std::abs(y[i] - expected[i]) / std::max(1.0, std::abs(expected[i])));
        }
        EXPECT_LE(worst, Tolerance(s.k))
            << s.m << "x" << s.n << "x" << s.k << " bias " << with_bias << " gelu " << gelu;
      }
    }
  }
}

TEST_P(GemmKernelTest, WritesOnlyItsColumnsOfAStridedOutput) {
  std::mt19937 rng(12);
  const Shape s{9, 20, 50};
  const std::size_t ldy = 3 * s.n;
  const auto x = RandomVector(s.m * s.k, rng);
  const auto w = RandomVector(s.n * s.k, rng, 0.05f);
  const PackedMatrix packed = PackedMatrix::Pack(w.data(), s.n, s.k, GetParam());
  std::vector<float> y(s.m * ldy, -7.0f);
  // The middle block of each row, as the query/key/value GEMMs once filled one buffer.
  LinearPacked(x.data(), packed, nullptr, y.data() + s.n, s.m, nullptr, ldy);
  const auto expected = Reference(x, w, nullptr, s, false);
  for (std::size_t r = 0; r < s.m; ++r) {
    for (std::size_t c = 0; c < ldy; ++c) {
      const float v = y[r * ldy + c];
      if (c < s.n || c >= 2 * s.n) {
        ASSERT_EQ(v, -7.0f) << r << "," << c;
      } else {
        ASSERT_NEAR(v, expected[r * s.n + c - s.n], Tolerance(s.k) * 4) << r << "," << c;
      }
    }
  }
}

TEST_P(GemmKernelTest, ResultsDoNotDependOnThePoolSize) {
  std::mt19937 rng(13);
  ThreadPool pool(2);
  // m = 16 splits the panels over the threads, m = 300 splits the rows.
  for (const std::size_t m : {16u, 300u}) {
    const Shape s{m, 1152, 384};
    const auto x = RandomVector(s.m * s.k, rng);
    const auto w = RandomVector(s.n * s.k, rng, 0.05f);
    const auto bias = RandomVector(s.n, rng);
    const PackedMatrix packed = PackedMatrix::Pack(w.data(), s.n, s.k, GetParam());
    std::vector<float> alone(s.m * s.n), shared(s.m * s.n);
    LinearPacked(x.data(), packed, bias.data(), alone.data(), s.m, nullptr, 0, true);
    LinearPacked(x.data(), packed, bias.data(), shared.data(), s.m, &pool, 0, true);
    if (GetParam() == GemmKernel::kAvx2) {
      EXPECT_EQ(alone, shared) << "m " << m;  // bit for bit
    } else {
      // BLAS may block the rows of a smaller call differently: equal to rounding.
      for (std::size_t i = 0; i < alone.size(); ++i) {
        ASSERT_NEAR(alone[i], shared[i], 1e-5f * std::max(1.0f, std::abs(alone[i]))) << "m " << m;
      }
    }
  }
}

TEST_P(GemmKernelTest, StackedPartsActAsOneMatrix) {
  std::mt19937 rng(14);
  const std::size_t k = 40;
  const auto q = RandomVector(8 * k, rng, 0.05f);
  const auto kk = RandomVector(8 * k, rng, 0.05f);
  const auto v = RandomVector(5 * k, rng, 0.05f);
  std::vector<float> whole(q);
  whole.insert(whole.end(), kk.begin(), kk.end());
  whole.insert(whole.end(), v.begin(), v.end());
  const float* parts[] = {q.data(), kk.data(), v.data()};
  const std::size_t rows[] = {8, 8, 5};
  const PackedMatrix stacked = PackedMatrix::Pack(parts, rows, k, GetParam());
  ASSERT_EQ(stacked.rows(), 21u);
  EXPECT_GT(stacked.bytes(), 0u);  // copied: the parts may be freed
  for (std::size_t j = 0; j < 21; ++j) {
    for (std::size_t i = 0; i < k; ++i) ASSERT_EQ(stacked.At(j, i), whole[j * k + i]);
  }
  const auto x = RandomVector(3 * k, rng);
  const PackedMatrix single = PackedMatrix::Pack(whole.data(), 21, k, GetParam());
  std::vector<float> a(3 * 21), b(3 * 21);
  LinearPacked(x.data(), stacked, nullptr, a.data(), 3);
  LinearPacked(x.data(), single, nullptr, b.data(), 3);
  EXPECT_EQ(a, b);
}

INSTANTIATE_TEST_SUITE_P(Supported, GemmKernelTest, testing::ValuesIn(SupportedGemmKernels()),
                         [](const testing::TestParamInfo<GemmKernel>& info) {
                           return std::string(GemmKernelName(info.param));
                         });

TEST(GemmKernels, PortableIsAlwaysSupportedAndBestIsLast) {
  const auto kernels = SupportedGemmKernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_EQ(kernels.front(), GemmKernel::kPortable);
  EXPECT_EQ(BestGemmKernel(), kernels.back());
}

TEST(GemmKernels, KernelsAgreeWithEachOther) {
  std::mt19937 rng(15);
  const Shape s{23, 70, 400};
  const auto x = RandomVector(s.m * s.k, rng);
  const auto w = RandomVector(s.n * s.k, rng, 0.05f);
  const auto bias = RandomVector(s.n, rng);
  std::vector<float> first;
  for (const GemmKernel kernel : SupportedGemmKernels()) {
    const PackedMatrix packed = PackedMatrix::Pack(w.data(), s.n, s.k, kernel);
    std::vector<float> y(s.m * s.n);
    LinearPacked(x.data(), packed, bias.data(), y.data(), s.m, nullptr, 0, true);
    if (first.empty()) {
      first = y;
      continue;
    }
    for (std::size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], first[i], 2 * Tolerance(s.k) * std::max(1.0f, std::abs(first[i])))
          << GemmKernelName(kernel) << " at " << i;
    }
  }
}

// The attention building blocks' layout: element (j, i) of a panel-packed matrix sits at
// panel j / 16, row i, column j % 16, and a last partial panel is padded with zeros. PackPanels
// (scaled, transposing; its AVX2 path takes whole panels when k % 8 == 0) and
// PackPanelsTransposed must both produce it, for strided sources.
TEST(GemmPanels, PackingLaysOutEveryElementAndZeroPadding) {
  std::mt19937 rng(21);
  for (const auto& [n, k] : std::vector<std::pair<std::size_t, std::size_t>>{
           {1, 1}, {16, 8}, {16, 32}, {40, 32}, {33, 24}, {7, 13}, {48, 64}}) {
    SCOPED_TRACE(std::to_string(n) + "x" + std::to_string(k));
    const std::size_t ldw = k + 5;  // w[n, k] with a row stride, as the qkv rows
    const auto w = RandomVector(n * ldw, rng);
    const std::size_t floats = PanelFloats(n, k);
    ASSERT_EQ(floats, (n + 15) / 16 * 16 * k);
    std::vector<float> packed(floats + 8, -7.0f);
    PackPanels(w.data(), ldw, n, k, 0.5f, packed.data());
    // The transposed source v[k, n] = w[j, i]ᵀ, row stride n + 3.
    const std::size_t ldv = n + 3;
    std::vector<float> v(k * ldv, 0.0f);
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t i = 0; i < k; ++i) v[i * ldv + j] = w[j * ldw + i];
    }
    std::vector<float> transposed(floats + 8, -7.0f);
    PackPanelsTransposed(v.data(), ldv, k, n, transposed.data());
    for (std::size_t j = 0; j < (n + 15) / 16 * 16; ++j) {
      for (std::size_t i = 0; i < k; ++i) {
        const std::size_t at = (j / 16) * k * 16 + i * 16 + j % 16;
        const float want = j < n ? w[j * ldw + i] : 0.0f;
        ASSERT_EQ(packed[at], want * 0.5f) << "j " << j << " i " << i;
        ASSERT_EQ(transposed[at], want) << "j " << j << " i " << i;
      }
    }
    for (std::size_t e = floats; e < floats + 8; ++e) {
      ASSERT_EQ(packed[e], -7.0f);  // nothing written past the panels
      ASSERT_EQ(transposed[e], -7.0f);
    }
  }
}

}  // namespace
}  // namespace sieve::nn
