#include "nn/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "nn/arena.h"
#include "nn/thread_pool.h"
#include "nn/vector_math.h"
#include "random_vector.h"

namespace sieve::nn {
namespace {

using testing_support::RandomVector;

float* Scratch(Arena& arena, std::size_t m, std::size_t k) {
  return arena.Allocate(LinearInt8ScratchFloats(m, k));
}

struct Shape {
  std::size_t m, n, k;
};

// Every dispatch path this CPU supports, by name in the test output.
class Int8KernelTest : public testing::TestWithParam<Int8Kernel> {};

std::vector<Int8Kernel> KernelsToTest() {
  return SupportedInt8Kernels();
}

// Per output: |y − y_float| is at most Σ_i (|x_i|·s_w/2 + |w_i|·s_x/2 + s_x·s_w/4) from the two
// rounding errors; the kernel must stay inside that bound and match the product of the
// dequantised operands (what its integer sums mean) to float rounding.
TEST_P(Int8KernelTest, MatchesTheFloatProductWithinTheQuantisationBound) {
  const Int8Kernel kernel = GetParam();
  std::mt19937 rng(7);
  for (const Shape shape : {Shape{1, 1, 1}, Shape{5, 7, 11}, Shape{13, 37, 45}, Shape{70, 48, 384},
                            Shape{9, 384, 1536}}) {
    SCOPED_TRACE(std::to_string(shape.m) + "x" + std::to_string(shape.n) + "x" +
                 std::to_string(shape.k));
    const auto [m, n, k] = shape;
    auto x = RandomVector(m * k, rng), w = RandomVector(n * k, rng, 0.05f),
         bias = RandomVector(n, rng);
    const Int8Matrix q = Int8Matrix::Quantize(w.data(), n, k, kernel);
    ASSERT_EQ(q.kernel(), kernel);
    Arena arena;
    std::vector<float> y(m * n);
    LinearInt8(x.data(), q, bias.data(), y.data(), m, Scratch(arena, m, k));
    for (std::size_t r = 0; r < m; ++r) {
      float max_x = 0;
      for (std::size_t i = 0; i < k; ++i) max_x = std::max(max_x, std::fabs(x[r * k + i]));
      const double sx = max_x / 127.0;
      for (std::size_t j = 0; j < n; ++j) {
        float max_w = 0;
        for (std::size_t i = 0; i < k; ++i) max_w = std::max(max_w, std::fabs(w[j * k + i]));
        const double sw = max_w / 127.0;
        double exact = bias[j], dequantised = bias[j], bound = 0, magnitude = std::fabs(bias[j]);
        for (std::size_t i = 0; i < k; ++i) {
          const double xi = x[r * k + i], wi = w[j * k + i];
          exact += xi * wi;
          const double xq = std::nearbyint(xi / sx) * sx;
          dequantised += xq * q.Dequantized(j, i);
          bound += std::fabs(xi) * sw / 2 + std::fabs(wi) * sx / 2 + sx * sw / 4;
          magnitude += std::fabs(xq * q.Dequantized(j, i));
        }
        const double got = y[r * n + j];
        ASSERT_LE(std::fabs(got - exact), bound + 1e-6) << "row " << r << " col " << j;
        ASSERT_NEAR(got, dequantised, 1e-5 * magnitude + 1e-6) << "row " << r << " col " << j;
      }
    }
  }
}

// The quantisation error is small in practice, not only bounded: relative RMS error of a layer
// shaped like bge-small's FFN under 2%.
TEST_P(Int8KernelTest, RelativeErrorOfARealisticLayerIsSmall) {
  std::mt19937 rng(3);
  const std::size_t m = 32, n = 384, k = 1536;
  auto x = RandomVector(m * k, rng), w = RandomVector(n * k, rng, 0.02f);
  const Int8Matrix q = Int8Matrix::Quantize(w.data(), n, k, GetParam());
  Arena arena;
  std::vector<float> y(m * n);
  LinearInt8(x.data(), q, nullptr, y.data(), m, Scratch(arena, m, k));
  double error = 0, energy = 0;
  for (std::size_t r = 0; r < m; ++r) {
    for (std::size_t j = 0; j < n; ++j) {
      double exact = 0;
      for (std::size_t i = 0; i < k; ++i) exact += double(x[r * k + i]) * w[j * k + i];
      error += (y[r * n + j] - exact) * (y[r * n + j] - exact);
      energy += exact * exact;
    }
  }
  EXPECT_LT(std::sqrt(error / energy), 0.02);
}

// Same integers on every path: outputs equal the scalar kernel's to float rounding, whatever the
// pool, the row stride and the bias.
TEST_P(Int8KernelTest, AgreesWithTheScalarKernelForAnyPoolStrideAndBias) {
  const Int8Kernel kernel = GetParam();
  std::mt19937 rng(11);
  for (const Shape shape : {Shape{3, 17, 5}, Shape{200, 33, 70}, Shape{31, 100, 129}}) {
    const auto [m, n, k] = shape;
    auto x = RandomVector(m * k, rng), w = RandomVector(n * k, rng), bias = RandomVector(n, rng);
    // A zero row quantises with scale 0: its outputs are the bias.
    std::fill_n(x.begin(), k, 0.0f);
    const Int8Matrix reference = Int8Matrix::Quantize(w.data(), n, k, Int8Kernel::kScalar);
    const Int8Matrix tested = Int8Matrix::Quantize(w.data(), n, k, kernel);
    Arena arena;
    std::vector<float> expected(m * n);
    LinearInt8(x.data(), reference, bias.data(), expected.data(), m, Scratch(arena, m, k));
    for (std::size_t j = 0; j < n; ++j) ASSERT_EQ(expected[j], bias[j]);
    for (std::size_t threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      const std::size_t ldy = n + 5;
      std::vector<float> y(m * ldy, -99.0f), no_bias(m * n);
      arena.Reset();
      // One scratch buffer reused by consecutive calls, as a forward pass does.
      float* scratch = Scratch(arena, m, k);
      LinearInt8(x.data(), tested, bias.data(), y.data(), m, scratch, &pool, ldy);
      LinearInt8(x.data(), tested, nullptr, no_bias.data(), m, scratch, &pool);
      for (std::size_t r = 0; r < m; ++r) {
        for (std::size_t j = 0; j < n; ++j) {
          const float want = expected[r * n + j];
          ASSERT_NEAR(y[r * ldy + j], want, 1e-5f * (1.0f + std::fabs(want)))
              << Int8KernelName(kernel) << " threads " << threads << " row " << r << " col " << j;
          ASSERT_NEAR(no_bias[r * n + j] + bias[j], want, 1e-4f * (1.0f + std::fabs(want)));
        }
        for (std::size_t j = n; j < ldy; ++j) ASSERT_EQ(y[r * ldy + j], -99.0f);  // untouched
      }
    }
  }
}

// GELU in the epilogue gives the values of a separate GeluErfInPlace pass, on full and partial
// column blocks.
TEST_P(Int8KernelTest, FusedGeluEqualsASeparatePass) {
  const Int8Kernel kernel = GetParam();
  std::mt19937 rng(5);
  const std::size_t m = 23, n = 40, k = 96;
  auto x = RandomVector(m * k, rng), w = RandomVector(n * k, rng, 0.2f),
       bias = RandomVector(n, rng);
  const Int8Matrix q = Int8Matrix::Quantize(w.data(), n, k, kernel);
  Arena arena;
  float* scratch = Scratch(arena, m, k);
  std::vector<float> separate(m * n), fused(m * n);
  LinearInt8(x.data(), q, bias.data(), separate.data(), m, scratch);
  GeluErfInPlace(separate.data(), separate.size());
  ThreadPool pool(2);
  LinearInt8(x.data(), q, bias.data(), fused.data(), m, scratch, &pool, 0, /*gelu=*/true);
  std::size_t negative = 0;
  for (std::size_t i = 0; i < fused.size(); ++i) {
    ASSERT_EQ(fused[i], separate[i]) << "element " << i;
    negative += fused[i] < 0 ? 1 : 0;
  }
  EXPECT_GT(negative, 0u);  // GELU really ran: a plain linear layer is negative far more often
}

// The largest products a kernel can meet: every activation and weight at ±127, of one sign or
// alternating. The sums must be exact: 16-bit pair sums of u8 (q_x + 128) × s8 would saturate
// here (2 · 255 · 127 > 32767), those of |q_w| × ±q_x (the AVX2 kernel) cannot.
TEST_P(Int8KernelTest, ExtremeOperandsDoNotSaturate) {
  const Int8Kernel kernel = GetParam();
  const std::size_t m = 4, n = 32, k = 384;
  std::vector<float> x(m * k), w(n * k);
  for (std::size_t i = 0; i < k; ++i) {
    x[0 * k + i] = 1.0f;
    x[1 * k + i] = -1.0f;
    x[2 * k + i] = i % 2 == 0 ? 1.0f : -1.0f;
    x[3 * k + i] = i % 4 < 2 ? 1.0f : -1.0f;
  }
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < k; ++i)
      w[j * k + i] = j % 2 == 0 ? 1.0f : (i % 2 == 0 ? 1.0f : -1.0f);
  }
  const Int8Matrix q = Int8Matrix::Quantize(w.data(), n, k, kernel);
  Arena arena;
  std::vector<float> y(m * n);
  LinearInt8(x.data(), q, nullptr, y.data(), m, Scratch(arena, m, k));
  for (std::size_t r = 0; r < m; ++r) {
    for (std::size_t j = 0; j < n; ++j) {
      double exact = 0;
      for (std::size_t i = 0; i < k; ++i) exact += double(x[r * k + i]) * w[j * k + i];
      // ±1 quantises exactly: the result is the exact dot product up to the scales' rounding.
      ASSERT_NEAR(y[r * n + j], exact, 1e-4 * k) << "row " << r << " col " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SupportedPaths, Int8KernelTest, testing::ValuesIn(KernelsToTest()),
                         [](const testing::TestParamInfo<Int8Kernel>& info) {
                           std::string name(Int8KernelName(info.param));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Int8DispatchTest, ScalarIsAlwaysSupportedAndTheBestIsTheLast) {
  const auto kernels = SupportedInt8Kernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_EQ(kernels.front(), Int8Kernel::kScalar);
  EXPECT_EQ(BestInt8Kernel(), kernels.back());
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_NE(std::find(kernels.begin(), kernels.end(), Int8Kernel::kAvx2), kernels.end());
  }
#endif
}

TEST(Int8MatrixTest, QuantisesPerOutputChannel) {
  // Two rows of very different magnitude keep their own scale: the small row is not flattened.
  const std::vector<float> w = {100.0f, -50.0f, 0.5f, 0.001f, -0.002f, 0.0005f};
  const Int8Matrix q = Int8Matrix::Quantize(w.data(), 2, 3, Int8Kernel::kScalar);
  EXPECT_FLOAT_EQ(q.Dequantized(0, 0), 100.0f);
  EXPECT_NEAR(q.Dequantized(1, 1), -0.002f, 0.002f / 254);
  EXPECT_NEAR(q.Dequantized(1, 0), 0.001f, 0.002f / 254);
}

}  // namespace
}  // namespace sieve::nn
