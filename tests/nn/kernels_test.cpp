#include "nn/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "nn/arena.h"
#include "nn/thread_pool.h"
#include "random_vector.h"

namespace sieve::nn {
namespace {

using testing_support::RandomVector;

TEST(LinearTest, MatchesNaiveProductWithBias) {
  std::mt19937 rng(1);
  const std::size_t m = 5, n = 7, k = 11;
  auto x = RandomVector(m * k, rng), w = RandomVector(n * k, rng), bias = RandomVector(n, rng);
  std::vector<float> y(m * n), y_no_bias(m * n);
  Linear(x.data(), w.data(), bias.data(), y.data(), m, n, k);
  Linear(x.data(), w.data(), nullptr, y_no_bias.data(), m, n, k);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double expected = 0;
      for (std::size_t t = 0; t < k; ++t) expected += double(x[i * k + t]) * w[j * k + t];
      EXPECT_NEAR(y_no_bias[i * n + j], expected, 1e-4);
      EXPECT_NEAR(y[i * n + j], expected + bias[j], 1e-4);
    }
  }
}

TEST(LayerNormTest, NormalisesEachRowWithResidual) {
  std::vector<float> x = {1, 2, 3, 4, 10, 10, 10, 10};
  std::vector<float> residual = {1, 0, 1, 0, 0, 0, 0, 0};
  std::vector<float> gamma = {1, 2, 1, 1}, beta = {0, 0, 0, 0.5f};
  AddLayerNorm(x.data(), residual.data(), gamma.data(), beta.data(), 2, 4, 1e-12f);
  // Row 0 becomes {2,2,4,4}: mean 3, variance 1.
  EXPECT_NEAR(x[0], -1.0f, 1e-5);
  EXPECT_NEAR(x[1], -2.0f, 1e-5);
  EXPECT_NEAR(x[2], 1.0f, 1e-5);
  EXPECT_NEAR(x[3], 1.5f, 1e-5);
  // A constant row has zero variance: output is beta.
  EXPECT_NEAR(x[4], 0.0f, 1e-5);
  EXPECT_NEAR(x[7], 0.5f, 1e-5);
}

TEST(LayerNormTest, EpsilonIsUsed) {
  std::vector<float> a = {0, 0.001f}, b = a;
  std::vector<float> gamma = {1, 1}, beta = {0, 0};
  AddLayerNorm(a.data(), nullptr, gamma.data(), beta.data(), 1, 2, 1e-12f);
  AddLayerNorm(b.data(), nullptr, gamma.data(), beta.data(), 1, 2, 1e-5f);
  EXPECT_NEAR(a[1], 1.0f, 1e-4);
  EXPECT_LT(b[1], 0.2f);  // variance 2.5e-7 is swamped by eps 1e-5
}

TEST(ActivationTest, GeluErfAndTanhFormsDiffer) {
  std::vector<float> erf_form = {-3, -1, 0, 1, 2.5f};
  std::vector<float> tanh_form = erf_form;
  Activate(Activation::kGeluErf, erf_form.data(), erf_form.size());
  Activate(Activation::kGeluTanh, tanh_form.data(), tanh_form.size());
  EXPECT_NEAR(erf_form[1], -0.15865526f, 1e-6);
  EXPECT_NEAR(erf_form[2], 0.0f, 1e-7);
  EXPECT_NEAR(erf_form[3], 0.84134474f, 1e-6);
  EXPECT_NEAR(erf_form[0], -0.0040496684f, 1e-6);
  EXPECT_NEAR(tanh_form[3], 0.84119199f, 1e-6);
  EXPECT_GT(std::fabs(erf_form[0] - tanh_form[0]), 1e-5);
}

// The erf-form GELU against double-precision erf, over the range activations take, in the
// vector lanes and the scalar tail alike (an odd length).
TEST(ActivationTest, GeluErfMatchesDoublePrecision) {
  std::vector<float> x;
  for (int i = -100001; i <= 100001; ++i) x.push_back(static_cast<float>(i) * 1e-4f);
  x.push_back(30.0f);
  x.push_back(-30.0f);
  std::vector<float> y = x;
  Activate(Activation::kGeluErf, y.data(), y.size());
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    worst = std::max(worst, std::fabs(y[i] - want) / (1.0 + std::fabs(want)));
  }
  EXPECT_LT(worst, 3e-6);
  EXPECT_EQ(y[y.size() - 2], 30.0f);
  EXPECT_EQ(y.back(), -0.0f);
}

TEST(ActivationTest, TanhAndRelu) {
  std::vector<float> x = {-1, 0.5f};
  Activate(Activation::kTanh, x.data(), 2);
  EXPECT_NEAR(x[0], std::tanh(-1.0f), 1e-7);
  std::vector<float> r = {-1, 0.5f};
  Activate(Activation::kRelu, r.data(), 2);
  EXPECT_EQ(r[0], 0.0f);
  EXPECT_EQ(r[1], 0.5f);
}

TEST(SoftmaxTest, MaskedEntriesGetZeroAndRowSumsToOne) {
  std::vector<float> x = {1, 2, 1000, 3};
  std::vector<std::int32_t> keep = {1, 1, 0, 1};
  Softmax(x.data(), keep.data(), 4);
  EXPECT_EQ(x[2], 0.0f);
  EXPECT_NEAR(x[0] + x[1] + x[3], 1.0f, 1e-6);
  EXPECT_NEAR(x[3] / x[1], std::exp(1.0f), 1e-4);
  std::vector<float> none = {1, 2};
  std::vector<std::int32_t> keep_none = {0, 0};
  Softmax(none.data(), keep_none.data(), 2);
  EXPECT_EQ(none[0], 0.0f);
  EXPECT_EQ(none[1], 0.0f);
  std::vector<float> plain = {0, std::log(3.0f)};
  Softmax(plain.data(), nullptr, 2);
  EXPECT_NEAR(plain[0], 0.25f, 1e-6);
  EXPECT_NEAR(plain[1], 0.75f, 1e-6);
}

// Naive attention of one unpadded sequence: qkv [len, 3·hidden].
std::vector<float> NaiveAttention(const std::vector<float>& qkv, std::size_t len, std::size_t heads,
                                  std::size_t head_dim) {
  const std::size_t hidden = heads * head_dim;
  std::vector<float> out(len * hidden, 0.0f);
  for (std::size_t h = 0; h < heads; ++h) {
    for (std::size_t i = 0; i < len; ++i) {
      std::vector<double> w(len);
      double max_w = -1e300;
      for (std::size_t j = 0; j < len; ++j) {
        double dot = 0;
        for (std::size_t d = 0; d < head_dim; ++d) {
          dot += double(qkv[i * 3 * hidden + h * head_dim + d]) *
                 qkv[j * 3 * hidden + hidden + h * head_dim + d];
        }
        w[j] = dot / std::sqrt(double(head_dim));
        max_w = std::max(max_w, w[j]);
      }
      double sum = 0;
      for (double& v : w) sum += (v = std::exp(v - max_w));
      for (std::size_t d = 0; d < head_dim; ++d) {
        double acc = 0;
        for (std::size_t j = 0; j < len; ++j) {
          acc += w[j] / sum * qkv[j * 3 * hidden + 2 * hidden + h * head_dim + d];
        }
        out[i * hidden + h * head_dim + d] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

TEST(SelfAttentionTest, PaddedBatchMatchesEachSequenceAlone) {
  std::mt19937 rng(7);
  const std::size_t heads = 3, head_dim = 4, hidden = heads * head_dim, seq = 6;
  const std::vector<std::size_t> lengths = {6, 2, 4};
  std::vector<float> qkv(lengths.size() * seq * 3 * hidden);
  std::vector<std::int32_t> mask(lengths.size() * seq, 0);
  std::vector<std::vector<float>> alone;
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    auto seq_qkv = RandomVector(lengths[b] * 3 * hidden, rng, 2.0f);
    std::copy(seq_qkv.begin(), seq_qkv.end(), qkv.begin() + b * seq * 3 * hidden);
    // Padding holds garbage that must not leak into real tokens.
    for (std::size_t t = lengths[b]; t < seq; ++t) {
      for (std::size_t i = 0; i < 3 * hidden; ++i) qkv[(b * seq + t) * 3 * hidden + i] = 1e3f;
    }
    for (std::size_t t = 0; t < lengths[b]; ++t) mask[b * seq + t] = 1;
    alone.push_back(NaiveAttention(seq_qkv, lengths[b], heads, head_dim));
  }
  std::vector<float> out(lengths.size() * seq * hidden);
  Arena arena;
  SelfAttention(qkv.data(), mask.data(), {lengths.size(), seq, heads, head_dim}, out.data(), arena);
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    for (std::size_t i = 0; i < lengths[b] * hidden; ++i) {
      ASSERT_NEAR(out[b * seq * hidden + i], alone[b][i], 1e-4) << "sequence " << b;
    }
  }
}

TEST(SelfAttentionTest, MaskHoleInTheMiddleIsIgnored) {
  std::mt19937 rng(3);
  const std::size_t heads = 1, head_dim = 2, hidden = 2, seq = 3;
  auto qkv = RandomVector(seq * 3 * hidden, rng);
  std::vector<std::int32_t> mask = {1, 0, 1};
  std::vector<float> out(seq * hidden);
  Arena arena;
  SelfAttention(qkv.data(), mask.data(), {1, seq, heads, head_dim}, out.data(), arena);
  // Same as a sequence made of tokens 0 and 2 only.
  std::vector<float> two;
  for (std::size_t t : {0, 2}) {
    two.insert(two.end(), qkv.begin() + t * 3 * hidden, qkv.begin() + (t + 1) * 3 * hidden);
  }
  auto expected = NaiveAttention(two, 2, heads, head_dim);
  EXPECT_NEAR(out[0], expected[0], 1e-5);
  EXPECT_NEAR(out[2 * hidden + 1], expected[hidden + 1], 1e-5);
}

// Packs the rows of `padded` ([batch·seq, width]) whose mask is non-zero, in order; fills
// `offsets` (batch + 1 entries).
std::vector<float> PackRows(const std::vector<float>& padded, const std::vector<std::int32_t>& mask,
                            std::size_t batch, std::size_t seq, std::size_t width,
                            std::vector<std::size_t>& offsets) {
  std::vector<float> packed;
  offsets.assign(1, 0);
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t t = 0; t < seq; ++t) {
      if (mask[b * seq + t] == 0) continue;
      const auto row = padded.begin() + static_cast<std::ptrdiff_t>((b * seq + t) * width);
      packed.insert(packed.end(), row, row + static_cast<std::ptrdiff_t>(width));
    }
    offsets.push_back(packed.size() / width);
  }
  return packed;
}

// Random batches (length-1 sequences, an all-padding one, masks with holes and leading padding,
// garbage in padded rows) through VarlenSelfAttention on the packed rows, against the padded
// SelfAttention's real rows; a pool of 1, 2 and 3 threads gives bit-identical results.
TEST(VarlenSelfAttentionTest, MatchesPaddedAttentionOnRealRowsForAnyMask) {
  UseSingleThreadedGemm();
  std::mt19937 rng(17);
  ThreadPool pool2(2), pool3(3);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t batch = 1 + rng() % 6, seq = 1 + rng() % 40;
    const std::size_t heads = 1 + rng() % 4, head_dim = 1 + rng() % 20;
    const std::size_t hidden = heads * head_dim;
    std::vector<std::int32_t> mask(batch * seq);
    for (std::size_t b = 0; b < batch; ++b) {
      const unsigned kind = rng() % 5;
      const std::size_t len = 1 + rng() % seq;
      for (std::size_t t = 0; t < seq; ++t) {
        std::int32_t& m = mask[b * seq + t];
        switch (kind) {
          case 0:  // prefix of `len` tokens
            m = t < len ? 1 : 0;
            break;
          case 1:  // one token only, anywhere
            m = t == len - 1 ? 1 : 0;
            break;
          case 2:  // all padding
            m = 0;
            break;
          default:  // random holes
            m = static_cast<std::int32_t>(rng() % 3 != 0);
            break;
        }
      }
    }
    auto qkv = RandomVector(batch * seq * 3 * hidden, rng, 2.0f);
    for (std::size_t i = 0; i < batch * seq; ++i) {
      if (mask[i] != 0) continue;
      for (std::size_t j = 0; j < 3 * hidden; ++j) qkv[i * 3 * hidden + j] = 1e4f;
    }
    std::vector<float> padded_out(batch * seq * hidden);
    Arena arena;
    SelfAttention(qkv.data(), mask.data(), {batch, seq, heads, head_dim}, padded_out.data(), arena);
    std::vector<std::size_t> offsets;
    const std::vector<float> packed_qkv = PackRows(qkv, mask, batch, seq, 3 * hidden, offsets);
    const std::size_t rows = offsets.back();
    const VarlenAttentionShape shape{offsets.data(), batch, heads, head_dim};
    std::vector<float> one(rows * hidden, -1.0f), two(rows * hidden, -2.0f),
        three(rows * hidden, -3.0f);
    arena.Reset();
    VarlenSelfAttention(packed_qkv.data(), shape, one.data(), arena);
    VarlenSelfAttention(packed_qkv.data(), shape, two.data(), arena, &pool2);
    VarlenSelfAttention(packed_qkv.data(), shape, three.data(), arena, &pool3);
    EXPECT_EQ(one, two) << "trial " << trial;
    EXPECT_EQ(one, three) << "trial " << trial;
    const std::vector<float> expected = PackRows(padded_out, mask, batch, seq, hidden, offsets);
    ASSERT_EQ(expected.size(), one.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
      ASSERT_NEAR(one[i], expected[i], 2e-5f * std::max(1.0f, std::fabs(expected[i])))
          << "trial " << trial << " at " << i;
    }
  }
}

// One sequence alone against the double-precision naive attention, and a batch where one long
// sequence dominates the cost (work is balanced by len², so most slots get few pairs).
TEST(VarlenSelfAttentionTest, MatchesNaiveAttentionWithUnevenLengths) {
  std::mt19937 rng(5);
  ThreadPool pool(4);
  const std::size_t heads = 3, head_dim = 8, hidden = heads * head_dim;
  const std::vector<std::size_t> lengths = {200, 1, 3, 0, 17, 2};
  std::vector<std::size_t> offsets = {0};
  for (std::size_t len : lengths) offsets.push_back(offsets.back() + len);
  auto qkv = RandomVector(offsets.back() * 3 * hidden, rng);
  std::vector<float> out(offsets.back() * hidden, 7.0f);
  Arena arena;
  VarlenSelfAttention(qkv.data(), {offsets.data(), lengths.size(), heads, head_dim}, out.data(),
                      arena, &pool);
  for (std::size_t s = 0; s < lengths.size(); ++s) {
    const std::vector<float> alone(
        qkv.begin() + static_cast<std::ptrdiff_t>(offsets[s] * 3 * hidden),
        qkv.begin() + static_cast<std::ptrdiff_t>(offsets[s + 1] * 3 * hidden));
    const auto expected = NaiveAttention(alone, lengths[s], heads, head_dim);
    for (std::size_t i = 0; i < expected.size(); ++i) {
      ASSERT_NEAR(out[offsets[s] * hidden + i], expected[i], 1e-5) << "sequence " << s;
    }
  }
}

TEST(VarlenSelfAttentionTest, EmptyBatchTouchesNothing) {
  std::vector<std::size_t> offsets = {0, 0, 0};
  float out = 3.0f;
  Arena arena;
  VarlenSelfAttention(nullptr, {offsets.data(), 2, 2, 4}, &out, arena);
  EXPECT_EQ(out, 3.0f);
}

TEST(PoolingTest, MeanPoolSkipsPaddingAndL2Normalizes) {
  std::vector<float> hidden = {1, 2, 3, 4, 100, 100};
  std::vector<std::int32_t> mask = {1, 1, 0};
  std::vector<float> out(2);
  MeanPool(hidden.data(), mask.data(), 3, 2, out.data());
  EXPECT_FLOAT_EQ(out[0], 2.0f);
  EXPECT_FLOAT_EQ(out[1], 3.0f);
  L2Normalize(out.data(), 2);
  EXPECT_NEAR(out[0] * out[0] + out[1] * out[1], 1.0f, 1e-6);
  EXPECT_NEAR(out[0] / out[1], 2.0f / 3.0f, 1e-6);
  std::vector<float> zero = {0, 0};
  L2Normalize(zero.data(), 2);
  EXPECT_EQ(zero[0], 0.0f);
}

TEST(ArenaTest, ReusesMemoryAfterFirstPass) {
  Arena arena;
  auto pass = [&arena] {
    float* a = arena.Allocate(100000);
    float* b = arena.Allocate(300000);
    a[0] = 1;
    b[299999] = 2;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % 64, 0u);
    return a;
  };
  pass();
  arena.Reset();
  EXPECT_EQ(arena.block_count(), 1u);
  const std::size_t capacity = arena.capacity();
  float* first = pass();
  arena.Reset();
  float* second = pass();
  EXPECT_EQ(first, second);
  EXPECT_EQ(arena.capacity(), capacity);
  EXPECT_EQ(arena.block_count(), 1u);
}

// The pool only changes who computes what: results equal the single-threaded kernels.
TEST(PooledKernelsTest, MatchTheCallingThreadResults) {
  UseSingleThreadedGemm();
  std::mt19937 rng(11);
  ThreadPool pool(3);
  // Column split (small m), row split (large m), and a strided output (ldy > n).
  for (const std::size_t m : {std::size_t{3}, std::size_t{400}}) {
    const std::size_t n = 70, k = 33, ldy = 2 * n;
    auto x = RandomVector(m * k, rng), w = RandomVector(n * k, rng), bias = RandomVector(n, rng);
    std::vector<float> serial(m * ldy, -7.0f), pooled(m * ldy, -7.0f);
    Linear(x.data(), w.data(), bias.data(), serial.data(), m, n, k, nullptr, ldy);
    Linear(x.data(), w.data(), bias.data(), pooled.data(), m, n, k, &pool, ldy);
    for (std::size_t i = 0; i < serial.size(); ++i) {
      // Blocks of another shape may round differently in the last bits.
      ASSERT_NEAR(pooled[i], serial[i], 1e-5f * std::max(1.0f, std::fabs(serial[i])))
          << "m " << m << " at " << i;
    }
    for (std::size_t r = 0; r < m; ++r) EXPECT_EQ(pooled[r * ldy + n], -7.0f);  // gap untouched
  }
  {
    const std::size_t rows = 300, cols = 40;
    auto a = RandomVector(rows * cols, rng), residual = RandomVector(rows * cols, rng);
    auto gamma = RandomVector(cols, rng), beta = RandomVector(cols, rng);
    auto b = a;
    AddLayerNorm(a.data(), residual.data(), gamma.data(), beta.data(), rows, cols, 1e-12f);
    AddLayerNorm(b.data(), residual.data(), gamma.data(), beta.data(), rows, cols, 1e-12f, &pool);
    EXPECT_EQ(a, b);
  }
  {
    auto a = RandomVector(50'000, rng);
    auto b = a;
    Activate(Activation::kGeluErf, a.data(), a.size());
    Activate(Activation::kGeluErf, b.data(), b.size(), &pool);
    EXPECT_EQ(a, b);
  }
  {
    const std::size_t batch = 3, heads = 4, head_dim = 8, hidden = heads * head_dim, seq = 9;
    auto qkv = RandomVector(batch * seq * 3 * hidden, rng);
    std::vector<std::int32_t> mask(batch * seq, 1);
    for (std::size_t t = 5; t < seq; ++t) mask[seq + t] = 0;
    for (std::size_t t = 0; t < seq; ++t) mask[2 * seq + t] = 0;  // all padding
    std::vector<float> a(batch * seq * hidden, 1.0f), b(batch * seq * hidden, 2.0f);
    Arena arena_a, arena_b;
    SelfAttention(qkv.data(), mask.data(), {batch, seq, heads, head_dim}, a.data(), arena_a);
    SelfAttention(qkv.data(), mask.data(), {batch, seq, heads, head_dim}, b.data(), arena_b, &pool);
    EXPECT_EQ(a, b);
  }
}

}  // namespace
}  // namespace sieve::nn
