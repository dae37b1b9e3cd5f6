#include "nn/kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "nn/gemm.h"
#include "nn/vector_math.h"

namespace sieve::nn {

namespace {

// y[m,n] (row stride ldy) = x[m,k] · w[n,k]ᵀ (+ bias), on the calling thread.
void LinearBlock(const float* x, const float* w, const float* bias, float* y, std::size_t m,
                 std::size_t n, std::size_t k, std::size_t ldy) {
  if (m == 0 || n == 0) return;
  float beta = 0.0f;
  if (bias != nullptr) {
    // Start from the bias and let sgemm accumulate onto it: one pass over y instead of two.
    for (std::size_t row = 0; row < m; ++row) std::copy(bias, bias + n, y + row * ldy);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, x, static_cast<int>(k), w, static_cast<int>(k), beta, y,
              static_cast<int>(ldy));
}

// Columns of y per unit of work when a GEMM is split by columns (keeps sgemm's blocks whole).
constexpr std::size_t kColumnUnit = 16;
// Rows of x per pool thread from which a GEMM is split by rows instead.
constexpr std::size_t kRowsPerThread = 64;
// Elements per unit of work for element-wise kernels.
constexpr std::size_t kElementUnit = 4096;

}  // namespace

void Linear(const float* x, const float* w, const float* bias, float* y, std::size_t m,
            std::size_t n, std::size_t k, ThreadPool* pool, std::size_t ldy) {
  if (m == 0 || n == 0) return;
  if (ldy == 0) ldy = n;
  const std::size_t threads = Parallelism(pool);
  if (threads == 1) {
    LinearBlock(x, w, bias, y, m, n, k, ldy);
  } else if (m >= kRowsPerThread * threads) {
    ParallelFor(pool, m, [&](std::size_t begin, std::size_t end) {
      LinearBlock(x + begin * k, w, bias, y + begin * ldy, end - begin, n, k, ldy);
    });
  } else {
    const std::size_t units = (n + kColumnUnit - 1) / kColumnUnit;
    ParallelFor(pool, units, [&](std::size_t begin, std::size_t end) {
      const std::size_t first = begin * kColumnUnit;
      const std::size_t last = std::min(n, end * kColumnUnit);
      LinearBlock(x, w + first * k, bias == nullptr ? nullptr : bias + first, y + first, m,
                  last - first, k, ldy);
    });
  }
}

}  // namespace sieve::nn

// OpenBLAS's own stop of its worker threads (what it runs before a fork); weak: absent from
// other BLAS libraries, and then null.
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));

namespace sieve::nn {

void UseSingleThreadedGemm() {
  static std::once_flag once;
  std::call_once(once, [] {
    openblas_set_num_threads(1);
    // OpenBLAS starts its workers when it is loaded, and each polls (sched_yield) for about 2^28
    // cycles before it sleeps: a tenth of a second of a core taken from a starting process.
    // Single-threaded they never get work, so they are stopped now.
    if (blas_thread_shutdown_ != nullptr) blas_thread_shutdown_();
  });
}

void AddInPlace(float* x, const float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] += y[i];
}

void AddLayerNorm(float* x, const float* residual, const float* gamma, const float* beta,
                  std::size_t rows, std::size_t cols, float eps, ThreadPool* pool) {
  const MathPath path = BestMathPath();
  const auto normalise = [&](std::size_t begin, std::size_t end) {
    for (std::size_t row = begin; row < end; ++row) {
      AddLayerNormRow(x + row * cols, residual == nullptr ? nullptr : residual + row * cols, gamma,
                      beta, cols, eps, path);
    }
  };
  if (rows * cols < kElementUnit) {
    normalise(0, rows);
  } else {
    ParallelFor(pool, rows, normalise);
  }
}

namespace {

void ActivateRange(Activation activation, float* x, std::size_t n) {
  switch (activation) {
    case Activation::kGeluErf:
      GeluErfInPlace(x, n);
      break;
    case Activation::kGeluTanh: {
      const float c = static_cast<float>(std::sqrt(2.0 / 3.14159265358979323846));
      for (std::size_t i = 0; i < n; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + std::tanh(c * (v + 0.044715f * v * v * v)));
      }
      break;
    }
    case Activation::kRelu:
      for (std::size_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f);
      break;
    case Activation::kTanh:
      for (std::size_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      break;
  }
}

}  // namespace

void Activate(Activation activation, float* x, std::size_t n, ThreadPool* pool) {
  const std::size_t units = (n + kElementUnit - 1) / kElementUnit;
  ParallelFor(pool, units, [&](std::size_t begin, std::size_t end) {
    const std::size_t first = begin * kElementUnit;
    ActivateRange(activation, x + first, std::min(n, end * kElementUnit) - first);
  });
}

void Softmax(float* x, const std::int32_t* keep, std::size_t n) {
  if (keep != nullptr) {
    for (std::size_t i = 0; i < n; ++i) {
      if (keep[i] == 0) x[i] = -std::numeric_limits<float>::infinity();
    }
  }
  SoftmaxInPlace(x, n);
}

void SelfAttention(const float* qkv, const std::int32_t* mask, const AttentionShape& shape,
                   float* out, Arena& arena, ThreadPool* pool) {
  const std::size_t seq = shape.seq_len;
  const std::size_t head_dim = shape.head_dim;
  const std::size_t hidden = shape.num_heads * head_dim;
  const int qkv_stride = static_cast<int>(3 * hidden);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  // Work is split into `slots` contiguous runs of (sequence, head) pairs, each with its own
  // scores buffer from the arena (allocated here, before any thread starts).
  const std::size_t pairs = shape.batch * shape.num_heads;
  if (pairs == 0) return;
  const std::size_t slots = std::min(pairs, Parallelism(pool));
  float* scores_base = arena.Allocate(slots * seq * seq);
  const auto run = [&](std::size_t slot) {
    float* scores = scores_base + slot * seq * seq;
    for (std::size_t pair = slot * pairs / slots; pair < (slot + 1) * pairs / slots; ++pair) {
      const std::size_t b = pair / shape.num_heads;
      const std::size_t h = pair % shape.num_heads;
      const std::int32_t* seq_mask = mask + b * seq;
      // Keys after the last real token never matter: leave them out of both GEMMs.
      std::size_t keys = seq;
      while (keys > 0 && seq_mask[keys - 1] == 0) --keys;
      const float* base = qkv + b * seq * 3 * hidden;
      float* out_head = out + b * seq * hidden + h * head_dim;
      if (keys == 0) {
        for (std::size_t t = 0; t < seq; ++t) std::fill_n(out_head + t * hidden, head_dim, 0.0f);
        continue;
      }
      const float* q = base + h * head_dim;
      const float* k = base + hidden + h * head_dim;
      const float* v = base + 2 * hidden + h * head_dim;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(seq),
                  static_cast<int>(keys), static_cast<int>(head_dim), scale, q, qkv_stride, k,
                  qkv_stride, 0.0f, scores, static_cast<int>(keys));
      for (std::size_t t = 0; t < seq; ++t) Softmax(scores + t * keys, seq_mask, keys);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(seq),
                  static_cast<int>(head_dim), static_cast<int>(keys), 1.0f, scores,
                  static_cast<int>(keys), v, qkv_stride, 0.0f, out_head, static_cast<int>(hidden));
    }
  };
  ParallelFor(pool, slots, [&](std::size_t begin, std::size_t end) {
    for (std::size_t slot = begin; slot < end; ++slot) run(slot);
  });
}

namespace {

// Relative cost of one head of a sequence of `len` tokens: two len × len × head_dim GEMMs and
// len softmax rows; the len² term dominates, so balancing by count would not do.
double AttentionCost(std::size_t len, bool first_query_only) {
  const double queries = first_query_only ? 1.0 : static_cast<double>(len);
  return queries * static_cast<double>(len + 1);
}

}  // namespace

void VarlenSelfAttention(const float* qkv, const VarlenAttentionShape& shape, float* out,
                         Arena& arena, ThreadPool* pool) {
  const std::size_t heads = shape.num_heads;
  const std::size_t head_dim = shape.head_dim;
  const std::size_t hidden = heads * head_dim;
  const std::size_t pairs = shape.sequences * heads;
  if (pairs == 0 || head_dim == 0) return;
  std::size_t longest = 0;
  double total = 0;
  for (std::size_t s = 0; s < shape.sequences; ++s) {
    const std::size_t len = shape.offsets[s + 1] - shape.offsets[s];
    longest = std::max(longest, len);
    total += AttentionCost(len, shape.first_query_only) * static_cast<double>(heads);
  }
  if (longest == 0) return;
  const int qkv_stride = static_cast<int>(3 * hidden);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  // (sequence, head) pairs are cut into `slots` contiguous runs of nearly equal cost: a pair
  // belongs to the slot its cost midpoint falls in. Threads claim slots as they go (a few per
  // thread: one slowed down leaves its last runs to the others). Each slot has its own scores
  // buffer from the arena (allocated here, before any thread starts). A pair's result does not
  // depend on its slot, so the output is the same for every pool size.
  constexpr std::size_t kSlotsPerThread = 4;
  const std::size_t threads = Parallelism(pool);
  const std::size_t slots = std::min(pairs, threads == 1 ? 1 : threads * kSlotsPerThread);
  const std::size_t most_queries = shape.first_query_only ? 1 : longest;
  float* scores_base = arena.Allocate(slots * most_queries * longest);
  // With the packed GEMM (gemm.h), each head's keys (scaled) and values are packed into panels
  // per slot: no BLAS call, no repacking inside it, and the scale folded into the keys.
  const bool panels = BestGemmKernel() == GemmKernel::kAvx2;
  const std::size_t keys_floats = panels ? PanelFloats(longest, head_dim) : 0;
  const std::size_t values_floats = panels ? PanelFloats(head_dim, longest) : 0;
  float* packed_base = panels ? arena.Allocate(slots * (keys_floats + values_floats)) : nullptr;
  const auto run = [&](std::size_t slot) {
    float* scores = scores_base + slot * most_queries * longest;
    float* packed_keys = panels ? packed_base + slot * (keys_floats + values_floats) : nullptr;
    float* packed_values = panels ? packed_keys + keys_floats : nullptr;
    double before = 0;
    for (std::size_t s = 0; s < shape.sequences; ++s) {
      const std::size_t first = shape.offsets[s];
      const std::size_t len = shape.offsets[s + 1] - first;
      const double cost = AttentionCost(len, shape.first_query_only);
      for (std::size_t h = 0; h < heads; ++h, before += cost) {
        if (len == 0) continue;
        const auto owner = std::min(
            slots - 1,
            static_cast<std::size_t>((before + cost / 2) * static_cast<double>(slots) / total));
        if (owner != slot) continue;
        const float* q = qkv + first * 3 * hidden + h * head_dim;
        const float* k = q + hidden;
        const float* v = q + 2 * hidden;
        const std::size_t queries = shape.first_query_only ? 1 : len;
        float* head_out = out + (shape.first_query_only ? s : first) * hidden + h * head_dim;
        if (panels) {
          PackPanels(k, 3 * hidden, len, head_dim, scale, packed_keys);
          GemmPanels(q, 3 * hidden, packed_keys, len, head_dim, scores, len, queries);
          for (std::size_t t = 0; t < queries; ++t) SoftmaxInPlace(scores + t * len, len);
          PackPanelsTransposed(v, 3 * hidden, len, head_dim, packed_values);
          GemmPanels(scores, len, packed_values, head_dim, len, head_out, hidden, queries);
          continue;
        }
        const int n = static_cast<int>(len);
        const int m = static_cast<int>(queries);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, static_cast<int>(head_dim),
                    scale, q, qkv_stride, k, qkv_stride, 0.0f, scores, n);
        for (std::size_t t = 0; t < queries; ++t) SoftmaxInPlace(scores + t * len, len);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, static_cast<int>(head_dim), n,
                    1.0f, scores, n, v, qkv_stride, 0.0f, head_out, static_cast<int>(hidden));
      }
    }
  };
  ParallelFor(
      pool, slots,
      [&](std::size_t begin, std::size_t end) {
        for (std::size_t slot = begin; slot < end; ++slot) run(slot);
      },
      (slots + threads - 1) / threads);
}

void MeanPool(const float* hidden_states, const std::int32_t* mask, std::size_t seq_len,
              std::size_t hidden, float* out) {
  std::fill_n(out, hidden, 0.0f);
  float count = 0;
  for (std::size_t t = 0; t < seq_len; ++t) {
    if (mask[t] == 0) continue;
    AddInPlace(out, hidden_states + t * hidden, hidden);
    count += 1;
  }
  // sentence-transformers clamps the token count at 1e-9.
  const float inv = 1.0f / std::max(count, 1e-9f);
  for (std::size_t i = 0; i < hidden; ++i) out[i] *= inv;
}

void L2Normalize(float* x, std::size_t n) {
  double squares = 0;
  for (std::size_t i = 0; i < n; ++i) squares += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::max(std::sqrt(squares), 1e-12));
  for (std::size_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace sieve::nn
