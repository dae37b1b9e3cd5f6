// nn/gemm.h: float32 Linear layers whose weights are packed once, at load, for our own GEMM.
//
// A BLAS sgemm rearranges ("packs") the weight matrix on every call. For a short text that is
// most of the work: the 12 layers of a bge-small read and rewrite ~85 MB per query. A
// PackedMatrix holds w[n, k] (nn.Linear layout) already in the order the micro-kernel reads it.
//
// Kernels, chosen at run time from the CPU's features (BestGemmKernel):
// - kAvx2: AVX2+FMA micro-kernel holding a 6 x 16 tile of y in 12 registers; w is stored as
//   panels of 16 output channels, [ceil(n/16)][k][16] (zero-padded, 64-byte aligned); x is read in
//   place; k is walked in blocks that keep a panel's block in L1. Bias and, optionally, GELU (erf)
//   are applied while the tile is in registers (fused epilogue).
// - kPortable: keeps w as it is and calls nn::Linear (OpenBLAS); any CPU.
// Both compute the same sums in a different order: results agree to float rounding (tests/nn).
//
// Thread-safety: a PackedMatrix is immutable after Pack; LinearPacked may run on several threads
// at once on distinct outputs.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "nn/thread_pool.h"

namespace sieve::nn {

enum class GemmKernel { kPortable, kAvx2 };

// "portable" / "avx2".
std::string_view GemmKernelName(GemmKernel kernel);
// The kernels this CPU can run (kPortable always), portable first, fastest last.
std::vector<GemmKernel> SupportedGemmKernels();
// The last of SupportedGemmKernels(). Thread-safe.
GemmKernel BestGemmKernel();

class PackedMatrix {
 public:
  PackedMatrix() = default;
  PackedMatrix(PackedMatrix&&) noexcept = default;
  PackedMatrix& operator=(PackedMatrix&&) noexcept = default;
  PackedMatrix(const PackedMatrix&) = delete;
  PackedMatrix& operator=(const PackedMatrix&) = delete;

  // The matrix whose rows are the rows of parts[0] ([rows[0], k]), then of parts[1], ... stacked
  // (e.g. query, key and value weights as one [3·hidden, hidden] matrix, so one GEMM computes all
  // three). kAvx2 copies into its packed form: the parts may be freed afterwards. kPortable with a
  // single part keeps the pointer (the caller keeps it alive as long as the PackedMatrix);
  // with several parts it copies them into one row-major matrix.
  static PackedMatrix Pack(std::span<const float* const> parts, std::span<const std::size_t> rows,
                           std::size_t k, GemmKernel kernel = BestGemmKernel());
  static PackedMatrix Pack(const float* w, std::size_t n, std::size_t k,
                           GemmKernel kernel = BestGemmKernel());

  std::size_t rows() const { return n_; }
  std::size_t cols() const { return k_; }
  GemmKernel kernel() const { return kernel_; }
  bool empty() const { return n_ == 0; }
  // Bytes this object allocated (0 for a kPortable view of the caller's matrix).
  std::size_t bytes() const { return owned_floats_ * sizeof(float); }
  // w[j, i] as packed (tests).
  float At(std::size_t j, std::size_t i) const;

 private:
  friend void LinearPacked(const float* x, const PackedMatrix& w, const float* bias, float* y,
                           std::size_t m, ThreadPool* pool, std::size_t ldy, bool gelu);
  struct FreeDeleter {
    std::size_t mapped_bytes;  // munmap this many bytes; 0: the memory is from malloc
    void operator()(float* p) const;
  };
  std::size_t n_ = 0, k_ = 0;
  GemmKernel kernel_ = GemmKernel::kPortable;
  std::unique_ptr<float, FreeDeleter> owned_;  // packed panels, or the stacked row-major copy
  std::size_t owned_floats_ = 0;
  const float* data_ = nullptr;  // owned_.get(), or the caller's matrix (kPortable view)
};

// y[m, n] = x[m, k] · wᵀ + bias[n] (bias may be null), then y <- GELU(y) (erf form, as
// nn::Activation::kGeluErf) when `gelu`. Row r of y starts at y + r·ldy (0 means n); x is
// row-major [m, k] with k = w.cols(). The work is split over `pool` (null = calling thread) by
// rows when m is large, else by panels of 16 outputs. kAvx2's results do not depend on the pool's
// size (bit for bit); kPortable's agree to rounding.
void LinearPacked(const float* x, const PackedMatrix& w, const float* bias, float* y, std::size_t m,
                  ThreadPool* pool = nullptr, std::size_t ldy = 0, bool gelu = false);

// Building blocks for kernels that pack an operand on the fly (attention: the keys and values of
// one head), on the calling thread. Panels are the kAvx2 layout above; `out` needs
// PanelFloats(n, k) floats, 32-byte aligned (e.g. from an nn::Arena).
std::size_t PanelFloats(std::size_t n, std::size_t k);
// Packs scale · w[n, k], row j of w at w + j·ldw.
void PackPanels(const float* w, std::size_t ldw, std::size_t n, std::size_t k, float scale,
                float* out);
// Packs the transpose of v[k, n] (row p at v + p·ldv): the matrix w[j, p] = v[p, j].
void PackPanelsTransposed(const float* v, std::size_t ldv, std::size_t k, std::size_t n,
                          float* out);
// y[m, n] (row stride ldy) = x[m, k] (row stride ldx) · wᵀ, w packed by one of the two above.
// Returns false, doing nothing, when this CPU has no kAvx2 kernel (the caller falls back to BLAS).
bool GemmPanels(const float* x, std::size_t ldx, const float* panels, std::size_t n, std::size_t k,
                float* y, std::size_t ldy, std::size_t m);

}  // namespace sieve::nn
