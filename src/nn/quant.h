// nn/quant.h: int8 dynamic quantisation of Linear layers.
//
// Weights are quantised once, symmetrically per output channel: s_w[j] = max_i |w[j,i]| / 127,
// q_w[j,i] = round(w[j,i] / s_w[j]). Activations are quantised on the fly, symmetrically per row:
// s_x[r] = max_i |x[r,i]| / 127, q_x[r,i] = round(x[r,i] / s_x[r]). Then
//   y[r,j] = s_x[r] · s_w[j] · Σ_i q_x[r,i] · q_w[j,i] + bias[j],
// with the sum computed exactly in int32 (no saturation on any path), so every kernel gives the
// same integer sums; only the float epilogue may differ by rounding.
//
// Kernels, chosen at run time from the CPU's features (BestInt8Kernel):
// - kAvx512Vnni: vpdpbusd on u8 (q_x + 128) × s8, the offset removed with per-channel sums;
// - kAvx2: vpmaddubsw on |q_w| (u8, packed beside q_w) × q_x with q_w's signs (vpsignb): its
//   signed 16-bit pair sums are at most 2 · 127 · 127 and cannot saturate; vpmaddwd by ones
//   widens them to int32;
// - kScalar: portable C++.
// An Int8Matrix is packed for one kernel (the one given at Quantize).
//
// Thread-safety: Int8Matrix is immutable after Quantize; LinearInt8 may run on several threads at
// once on distinct outputs (each with its own arena).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "nn/thread_pool.h"

namespace sieve::nn {

enum class Int8Kernel { kScalar, kAvx2, kAvx512Vnni };

// "scalar", "avx2", "avx512-vnni".
std::string_view Int8KernelName(Int8Kernel kernel);
// The kernels this CPU can run (kScalar always), portable first, fastest last.
std::vector<Int8Kernel> SupportedInt8Kernels();
// The last of SupportedInt8Kernels(). Thread-safe.
Int8Kernel BestInt8Kernel();

// A [n, k] weight matrix (nn.Linear layout) quantised to int8 and packed for one kernel.
class Int8Matrix {
 public:
  Int8Matrix() = default;
  // Quantises w[n, k]. `kernel` must be one of SupportedInt8Kernels() to be used by LinearInt8.
  static Int8Matrix Quantize(const float* w, std::size_t n, std::size_t k,
                             Int8Kernel kernel = BestInt8Kernel());

  std::size_t rows() const { return n_; }
  std::size_t cols() const { return k_; }
  Int8Kernel kernel() const { return kernel_; }
  // Bytes held (packed weights, scales, sums).
  std::size_t bytes() const;
  // The dequantised weight q_w[j,i] · s_w[j] (tests).
  float Dequantized(std::size_t j, std::size_t i) const;

 private:
  friend void LinearInt8(const float* x, const Int8Matrix& w, const float* bias, float* y,
                         std::size_t m, float* scratch, ThreadPool* pool, std::size_t ldy,
                         bool gelu);
  std::size_t n_ = 0, k_ = 0;
  std::size_t k_padded_ = 0;  // k rounded up to the kernel's group (1 or 4)
  Int8Kernel kernel_ = Int8Kernel::kScalar;
  std::vector<float> scales_;             // s_w, one per output channel
  std::vector<std::int32_t> sums_;        // Σ_i q_w[j,i] (the u8 offset of the VNNI kernel)
  std::vector<std::int8_t> s8_;           // scalar: [n][k]; AVX2 and VNNI: [n/16][k/4][16][4]
  std::vector<std::uint8_t> magnitudes_;  // AVX2: |s8_|, same layout
};

// Floats of scratch LinearInt8 needs for m rows of k inputs (any kernel). One buffer sized for
// the largest k can serve every layer of a forward pass.
std::size_t LinearInt8ScratchFloats(std::size_t m, std::size_t k);

// y[m, n] = x[m, k] · wᵀ (+ bias[n]) as described at the top, with w's kernel, then GELU (erf
// form, the same values as GeluErfInPlace on y) when `gelu`. Row r of y starts at y + r·ldy
// (0 = n). `scratch` (64-byte aligned, LinearInt8ScratchFloats(m, w.cols()) floats, e.g. from an
// nn::Arena) holds the quantised activations; the work is split over `pool` (null = calling
// thread); results do not depend on the pool's size.
void LinearInt8(const float* x, const Int8Matrix& w, const float* bias, float* y, std::size_t m,
                float* scratch, ThreadPool* pool = nullptr, std::size_t ldy = 0, bool gelu = false);

}  // namespace sieve::nn
