// nn: the numeric kernels of the encoder, behind one small interface.
//
// Matrices are row-major float32. Weights use PyTorch's nn.Linear layout: w[out_features,
// in_features]. Every kernel writes into memory the caller owns (usually an nn::Arena), so none of
// them allocates. The performance work can replace the bodies without touching callers.
//
// Kernels that take a ThreadPool* split their work over it (null = the calling thread only);
// results do not depend on the pool's size. GEMMs call OpenBLAS single-threaded from each pool
// thread: call UseSingleThreadedGemm() once before the first kernel (models do at load).
// Thread-safety: every kernel may run on several threads at once on distinct outputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nn/arena.h"
#include "nn/thread_pool.h"

namespace sieve::nn {

// y[m,n] = x[m,k] · w[n,k]ᵀ (+ bias[n] when bias is not null). OpenBLAS sgemm, split over
// `pool` by rows of x when m is large, else by columns of y. Row r of y starts at y + r·ldy
// (ldy = 0 means n), so several GEMMs can fill interleaved column blocks of one matrix.
void Linear(const float* x, const float* w, const float* bias, float* y, std::size_t m,
            std::size_t n, std::size_t k, ThreadPool* pool = nullptr, std::size_t ldy = 0);

// Makes OpenBLAS run each sgemm on the calling thread (its own thread count is a process-wide
// setting; parallelism comes from the ThreadPool instead) and stops OpenBLAS's idle worker
// threads. Every ThreadPool calls it when constructed. Idempotent and thread-safe; call it
// before any BLAS call of the process.
void UseSingleThreadedGemm();

// x[i] += y[i].
void AddInPlace(float* x, const float* y, std::size_t n);

// Each of `rows` rows of x (length cols) <- LayerNorm(x + residual) * gamma + beta, in place.
// `residual` may be null. Biased variance, as torch.nn.LayerNorm.
void AddLayerNorm(float* x, const float* residual, const float* gamma, const float* beta,
                  std::size_t rows, std::size_t cols, float eps, ThreadPool* pool = nullptr);

enum class Activation { kGeluErf, kGeluTanh, kRelu, kTanh };
// In place. kGeluErf is 0.5·x·(1 + erf(x/√2)) (torch's default "gelu").
void Activate(Activation activation, float* x, std::size_t n, ThreadPool* pool = nullptr);

// Softmax of one row, in place; entries with keep[i] == 0 get probability 0 (keep may be null;
// their inputs are overwritten first). A row with nothing kept becomes all zeros. AVX2 when the
// CPU has it (nn/vector_math.h SoftmaxInPlace).
void Softmax(float* x, const std::int32_t* keep, std::size_t n);

struct AttentionShape {
  std::size_t batch = 0;
  std::size_t seq_len = 0;  // padded length shared by the batch
  std::size_t num_heads = 0;
  std::size_t head_dim = 0;
};

// Multi-head self-attention over a padded batch (the reference form; the encoder runs
// VarlenSelfAttention on packed rows instead).
// qkv: [batch·seq_len, 3·hidden], each row q | k | v (hidden = num_heads·head_dim, heads
// contiguous inside each part). mask: [batch·seq_len], 1 = real token, 0 = padding; padded keys get
// zero weight. Every query row is computed (padded rows too, as PyTorch does).
// out: [batch·seq_len, hidden]. Scratch comes from `arena`; (sequence, head) pairs are split
// over `pool`.
void SelfAttention(const float* qkv, const std::int32_t* mask, const AttentionShape& shape,
                   float* out, Arena& arena, ThreadPool* pool = nullptr);

// The sequences of a packed batch (padding removed): sequence s owns rows
// [offsets[s], offsets[s + 1]) of the packed matrices. `offsets` has sequences + 1 entries,
// offsets[0] = 0, non-decreasing (a sequence may be empty).
struct VarlenAttentionShape {
  const std::size_t* offsets = nullptr;
  std::size_t sequences = 0;
  std::size_t num_heads = 0;
  std::size_t head_dim = 0;
  // Only the first row of each sequence attends (over all of its rows), and `out` has one row
  // per sequence, [sequences, hidden]: what a last layer needs when only [CLS] is read. A
  // sequence with no row leaves its output row untouched.
  bool first_query_only = false;
};

// Multi-head self-attention of each sequence over its own rows only, no mask.
// qkv: [offsets[sequences], 3·hidden], each row q | k | v (as SelfAttention);
// out: [offsets[sequences], hidden] (first_query_only: [sequences, hidden]). Scratch (one
// longest² scores buffer per slot) comes from `arena`; (sequence, head) pairs are split over
// `pool` in runs of nearly equal cost (len², or len for first_query_only), and the results do not
// depend on the pool's size. A first-query-only row equals that row of the full computation.
void VarlenSelfAttention(const float* qkv, const VarlenAttentionShape& shape, float* out,
                         Arena& arena, ThreadPool* pool = nullptr);

// out[hidden] = mean of hidden_states[t] over t with mask[t] == 1 (one sequence).
void MeanPool(const float* hidden_states, const std::int32_t* mask, std::size_t seq_len,
              std::size_t hidden, float* out);

// x <- x / max(‖x‖₂, 1e-12), as torch.nn.functional.normalize.
void L2Normalize(float* x, std::size_t n);

}  // namespace sieve::nn
