#include "nn/gemm.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "nn/kernels.h"
#include "nn/simd_math.h"
#include "nn/vector_math.h"

namespace sieve::nn {
namespace {

// Output channels per panel: two AVX2 registers.
constexpr std::size_t kPanel = 16;
// Rows of x per micro-tile: 6 x 2 accumulators + 2 weight registers + 1 broadcast <= 16 ymm.
constexpr std::size_t kTileRows = 6;
// Depth of a k block: a panel's block (16 x 384 floats = 24 KiB) stays in L1 while every tile of
// a row block goes over it.
constexpr std::size_t kDepthBlock = 384;
// Rows per row block: its slice of x (96 x 384 floats = 144 KiB) stays in L2 while the panels go
// over it.
constexpr std::size_t kRowBlock = 96;
// Weight rows (of 16 floats, one cache line) ahead of use that the micro-kernel prefetches: for a
// short input the GEMM streams the weights from memory, and the hardware prefetcher alone leaves
// the cores waiting.
constexpr std::size_t kPrefetch = 24;
// Chunks of work per thread, claimed dynamically: a thread that falls behind (its core shared
// with another process, a late wake-up) leaves its remaining chunks to the others.
constexpr std::size_t kChunksPerThread = 4;
// Rows per thread from which the work is split by rows instead of by panels.
constexpr std::size_t kRowsPerThread = 48;

// Matrices from this size on get pages of their own, as transparent huge pages where the system
// allows it (madvise mode): packing a model touches ~100 MB of fresh memory at load, and 4 KiB
// page faults cost more than the packing itself.
constexpr std::size_t kHugePage = std::size_t{2} << 20;

// `count` zeroed floats, 64-byte aligned; `mapped_bytes` is set to the size of the mapping, or 0
// when the memory comes from malloc.
float* AllocateFloats(std::size_t count, std::size_t& mapped_bytes) {
  const std::size_t bytes = std::max<std::size_t>(64, ((count * sizeof(float) + 63) / 64) * 64);
  mapped_bytes = 0;
  if (bytes >= kHugePage) {
    // Start on a huge-page boundary (map more, unmap the ends); the tail past the last whole huge
    // page stays in small pages, so no memory is wasted on rounding.
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t length = (bytes + page - 1) / page * page;
    void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t start = (base + kHugePage - 1) & ~(kHugePage - 1);
    if (start > base) ::munmap(raw, start - base);
    const std::uintptr_t end = base + length + kHugePage;
    if (end > start + length)
      ::munmap(reinterpret_cast<void*>(start + length), end - start - length);
    void* p = reinterpret_cast<void*>(start);
#ifdef MADV_HUGEPAGE
    ::madvise(p, length, MADV_HUGEPAGE);  // a hint: without THP the pages are simply small
#endif
    mapped_bytes = length;
    return static_cast<float*>(p);
  }
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return static_cast<float*>(p);
}

#ifdef SIEVE_NN_X86
// The epilogue's activation: GELU (erf form) when `gelu`, else the identity.
__attribute__((target("avx2,fma"))) inline __m256 Finish(bool gelu, __m256 v) {
  return gelu ? simd::GeluAvx2(v) : v;
}

// y tile [R, cols] (cols <= 16, row stride ldy) = (first ? bias : y) + x[R, kc] · panel block,
// then GELU when `gelu` (only on the last k block). x rows have stride ldx; `b` is the panel's
// block, kc rows of 16 floats, 32-byte aligned.
template <int R>
__attribute__((target("avx2,fma"))) void Tile(const float* x, std::size_t ldx, const float* b,
                                              std::size_t kc, float* y, std::size_t ldy,
                                              const float* bias, bool first, bool gelu,
                                              std::size_t cols) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (std::size_t p = 0; p < kc; ++p) {
    _mm_prefetch(reinterpret_cast<const char*>(b + (p + kPrefetch) * kPanel), _MM_HINT_T0);
    const __m256 b0 = _mm256_load_ps(b + p * kPanel);
    const __m256 b1 = _mm256_load_ps(b + p * kPanel + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * ldx + p);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  if (cols == kPanel) {
    __m256 start0 = _mm256_setzero_ps(), start1 = _mm256_setzero_ps();
    if (first && bias != nullptr) {
      start0 = _mm256_loadu_ps(bias);
      start1 = _mm256_loadu_ps(bias + 8);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      float* row = y + r * ldy;
      const __m256 s0 = first ? start0 : _mm256_loadu_ps(row);
      const __m256 s1 = first ? start1 : _mm256_loadu_ps(row + 8);
      _mm256_storeu_ps(row, Finish(gelu, _mm256_add_ps(s0, acc[r][0])));
      _mm256_storeu_ps(row + 8, Finish(gelu, _mm256_add_ps(s1, acc[r][1])));
    }
    return;
  }
  // A last, partial panel: go through a full-width buffer.
  alignas(32) float tile[kPanel];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* row = y + r * ldy;
    for (std::size_t c = 0; c < kPanel; ++c) {
      tile[c] = c >= cols ? 0.0f : first ? (bias != nullptr ? bias[c] : 0.0f) : row[c];
    }
    _mm256_store_ps(tile, Finish(gelu, _mm256_add_ps(_mm256_load_ps(tile), acc[r][0])));
    _mm256_store_ps(tile + 8, Finish(gelu, _mm256_add_ps(_mm256_load_ps(tile + 8), acc[r][1])));
    std::memcpy(row, tile, cols * sizeof(float));
  }
}

using TileFn = void (*)(const float*, std::size_t, const float*, std::size_t, float*, std::size_t,
                        const float*, bool, bool, std::size_t);
constexpr TileFn kTiles[kTileRows + 1] = {nullptr,  &Tile<1>, &Tile<2>, &Tile<3>,
                                          &Tile<4>, &Tile<5>, &Tile<6>};

// Rows [row_begin, row_end) x panels [panel_begin, panel_end) of y on the calling thread.
void PackedBlock(const float* x, std::size_t ldx, const float* packed, std::size_t n, std::size_t k,
                 const float* bias, float* y, std::size_t ldy, bool gelu, std::size_t row_begin,
                 std::size_t row_end, std::size_t panel_begin, std::size_t panel_end) {
  for (std::size_t p0 = 0; p0 < k; p0 += kDepthBlock) {
    const std::size_t kc = std::min(kDepthBlock, k - p0);
    const bool first = p0 == 0;
    const bool last = p0 + kc == k;
    for (std::size_t i0 = row_begin; i0 < row_end; i0 += kRowBlock) {
      const std::size_t i1 = std::min(row_end, i0 + kRowBlock);
      for (std::size_t j = panel_begin; j < panel_end; ++j) {
        const float* b = packed + j * k * kPanel + p0 * kPanel;
        const std::size_t col = j * kPanel;
        const std::size_t cols = std::min(kPanel, n - col);
        const float* panel_bias = bias == nullptr ? nullptr : bias + col;
        for (std::size_t i = i0; i < i1; i += kTileRows) {
          const std::size_t rows = std::min(kTileRows, i1 - i);
          kTiles[rows](x + i * ldx + p0, ldx, b, kc, y + i * ldy + col, ldy, panel_bias, first,
                       gelu && last, cols);
        }
      }
    }
  }
}
#endif  // SIEVE_NN_X86

}  // namespace

void PackedMatrix::FreeDeleter::operator()(float* p) const {
  if (mapped_bytes > 0) {
    ::munmap(p, mapped_bytes);
  } else {
    std::free(p);
  }
}

std::string_view GemmKernelName(GemmKernel kernel) {
  return kernel == GemmKernel::kAvx2 ? "avx2" : "portable";
}

std::vector<GemmKernel> SupportedGemmKernels() {
  std::vector<GemmKernel> kernels{GemmKernel::kPortable};
#ifdef SIEVE_NN_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    kernels.push_back(GemmKernel::kAvx2);
  }
#endif
  return kernels;
}

GemmKernel BestGemmKernel() {
  static const GemmKernel best = SupportedGemmKernels().back();
  return best;
}

PackedMatrix PackedMatrix::Pack(const float* w, std::size_t n, std::size_t k, GemmKernel kernel) {
  const float* parts[] = {w};
  const std::size_t rows[] = {n};
  return Pack(parts, rows, k, kernel);
}

PackedMatrix PackedMatrix::Pack(std::span<const float* const> parts,
                                std::span<const std::size_t> rows, std::size_t k,
                                GemmKernel kernel) {
  PackedMatrix m;
  m.k_ = k;
  m.kernel_ = kernel;
  for (std::size_t r : rows) m.n_ += r;
  // The source row j of the stacked matrix.
  const auto source_row = [&](std::size_t j) -> const float* {
    for (std::size_t part = 0; part < parts.size(); ++part) {
      if (j < rows[part]) return parts[part] + j * k;
      j -= rows[part];
    }
    return nullptr;
  };
  if (kernel == GemmKernel::kPortable) {
    if (parts.size() == 1) {
      m.data_ = parts[0];
      return m;
    }
    m.owned_floats_ = m.n_ * k;
    std::size_t mapped = 0;
    float* storage = AllocateFloats(m.owned_floats_, mapped);
    m.owned_ = std::unique_ptr<float, FreeDeleter>(storage, FreeDeleter{mapped});
    for (std::size_t j = 0; j < m.n_; ++j) std::copy_n(source_row(j), k, m.owned_.get() + j * k);
    m.data_ = m.owned_.get();
    return m;
  }
  const std::size_t panels = (m.n_ + kPanel - 1) / kPanel;
  m.owned_floats_ = panels * k * kPanel;
  std::size_t mapped = 0;
  float* out = AllocateFloats(m.owned_floats_, mapped);  // zeroed: the padding of a last panel
  m.owned_ = std::unique_ptr<float, FreeDeleter>(out, FreeDeleter{mapped});
  // Written in order, read from 16 rows at a time.
  const float* src[kPanel];
  for (std::size_t panel = 0; panel < panels; ++panel) {
    const std::size_t width = std::min(kPanel, m.n_ - panel * kPanel);
    for (std::size_t c = 0; c < width; ++c) src[c] = source_row(panel * kPanel + c);
    float* dst = out + panel * k * kPanel;
    for (std::size_t i = 0; i < k; ++i) {
      for (std::size_t c = 0; c < width; ++c) dst[i * kPanel + c] = src[c][i];
    }
  }
  m.data_ = out;
  return m;
}

float PackedMatrix::At(std::size_t j, std::size_t i) const {
  if (kernel_ == GemmKernel::kPortable) return data_[j * k_ + i];
  return data_[(j / kPanel) * k_ * kPanel + i * kPanel + j % kPanel];
}

void LinearPacked(const float* x, const PackedMatrix& w, const float* bias, float* y, std::size_t m,
                  ThreadPool* pool, std::size_t ldy, bool gelu) {
  const std::size_t n = w.n_, k = w.k_;
  if (m == 0 || n == 0) return;
  if (ldy == 0) ldy = n;
#ifdef SIEVE_NN_X86
  if (w.kernel_ == GemmKernel::kAvx2) {
    const std::size_t panels = (n + kPanel - 1) / kPanel;
    const std::size_t threads = Parallelism(pool);
    if (threads == 1) {
      PackedBlock(x, k, w.data_, n, k, bias, y, ldy, gelu, 0, m, 0, panels);
    } else if (m >= kRowsPerThread * threads) {
      // Whole tiles per thread: units of kTileRows rows.
      const std::size_t units = (m + kTileRows - 1) / kTileRows;
      ParallelFor(
          pool, units,
          [&](std::size_t begin, std::size_t end) {
            PackedBlock(x, k, w.data_, n, k, bias, y, ldy, gelu, begin * kTileRows,
                        std::min(m, end * kTileRows), 0, panels);
          },
          kChunksPerThread);
    } else {
      ParallelFor(
          pool, panels,
          [&](std::size_t begin, std::size_t end) {
            PackedBlock(x, k, w.data_, n, k, bias, y, ldy, gelu, 0, m, begin, end);
          },
          kChunksPerThread);
    }
    return;
  }
#endif
  Linear(x, w.data_, bias, y, m, n, k, pool, ldy);
  if (gelu) {
    for (std::size_t row = 0; row < m; ++row) GeluErfInPlace(y + row * ldy, n);
  }
}

std::size_t PanelFloats(std::size_t n, std::size_t k) {
  return (n + kPanel - 1) / kPanel * kPanel * k;
}

#ifdef SIEVE_NN_X86
namespace {
// dst[i][c] = scale · src[c][i] for 8 rows c of src (stride lds) and 8 columns i, into rows of
// ldd floats: one 8 x 8 transpose in registers.
__attribute__((target("avx2,fma"))) void Transpose8x8Scaled(const float* src, std::size_t lds,
                                                            __m256 scale, float* dst,
                                                            std::size_t ldd) {
  __m256 r[8];
  for (int c = 0; c < 8; ++c) r[c] = _mm256_mul_ps(_mm256_loadu_ps(src + c * lds), scale);
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// PackPanels for whole panels and k a multiple of 8 (attention's keys: 16 keys x head_dim).
__attribute__((target("avx2,fma"))) void PackWholePanelsAvx2(const float* w, std::size_t ldw,
                                                             std::size_t panels, std::size_t k,
                                                             float scale, float* out) {
  const __m256 scale_vec = _mm256_set1_ps(scale);
  for (std::size_t panel = 0; panel < panels; ++panel) {
    float* dst = out + panel * k * kPanel;
    const float* src = w + panel * kPanel * ldw;
    for (std::size_t i = 0; i < k; i += 8) {
      Transpose8x8Scaled(src + i, ldw, scale_vec, dst + i * kPanel, kPanel);
      Transpose8x8Scaled(src + 8 * ldw + i, ldw, scale_vec, dst + i * kPanel + 8, kPanel);
    }
  }
}
}  // namespace
#endif  // SIEVE_NN_X86

void PackPanels(const float* w, std::size_t ldw, std::size_t n, std::size_t k, float scale,
                float* out) {
  std::size_t first = 0;  // the first panel left for the loop below
#ifdef SIEVE_NN_X86
  if (k % 8 == 0 && BestGemmKernel() == GemmKernel::kAvx2) {
    first = n / kPanel;
    PackWholePanelsAvx2(w, ldw, first, k, scale, out);
  }
#endif
  for (std::size_t panel = first; panel * kPanel < n; ++panel) {
    const std::size_t width = std::min(kPanel, n - panel * kPanel);
    float* dst = out + panel * k * kPanel;
    const float* src = w + panel * kPanel * ldw;
    for (std::size_t i = 0; i < k; ++i) {
      for (std::size_t c = 0; c < kPanel; ++c) {
        dst[i * kPanel + c] = c < width ? src[c * ldw + i] * scale : 0.0f;
      }
    }
  }
}

void PackPanelsTransposed(const float* v, std::size_t ldv, std::size_t k, std::size_t n,
                          float* out) {
  for (std::size_t panel = 0; panel * kPanel < n; ++panel) {
    const std::size_t width = std::min(kPanel, n - panel * kPanel);
    float* dst = out + panel * k * kPanel;
    for (std::size_t i = 0; i < k; ++i) {
      const float* src = v + i * ldv + panel * kPanel;
      std::copy_n(src, width, dst + i * kPanel);
      std::fill(dst + i * kPanel + width, dst + (i + 1) * kPanel, 0.0f);
    }
  }
}

bool GemmPanels(const float* x, std::size_t ldx, const float* panels, std::size_t n, std::size_t k,
                float* y, std::size_t ldy, std::size_t m) {
#ifdef SIEVE_NN_X86
  if (BestGemmKernel() != GemmKernel::kAvx2) return false;
  if (m == 0 || n == 0) return true;
  PackedBlock(x, ldx, panels, n, k, nullptr, y, ldy, false, 0, m, 0, (n + kPanel - 1) / kPanel);
  return true;
#else
  (void)x, (void)ldx, (void)panels, (void)n, (void)k, (void)y, (void)ldy, (void)m;
  return false;
#endif
}

}  // namespace sieve::nn
