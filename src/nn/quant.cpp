#include "nn/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "nn/vector_math.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIEVE_NN_X86 1
#include "nn/simd_math.h"
#endif

namespace sieve::nn {
namespace {

// Columns of y per packed block (one 512-bit or two 256-bit registers of int32 sums).
constexpr std::size_t kBlock = 16;
// Rows of x per cache chunk: their quantised activations stay in L2 while every column block
// passes over them.
constexpr std::size_t kRowChunk = 48;
// Rows of x per pool thread from which the work is split by rows instead of column blocks.
constexpr std::size_t kRowsPerThread = 64;
// Largest micro-tile height of any kernel.
constexpr std::size_t kMaxTileRows = 8;

std::size_t RoundUp(std::size_t value, std::size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

std::size_t Group(Int8Kernel kernel) {
  switch (kernel) {
    case Int8Kernel::kScalar:
      return 1;
    case Int8Kernel::kAvx2:
    case Int8Kernel::kAvx512Vnni:
      return 4;
  }
  return 1;
}

// Round half to even for |v| < 2^22, as cvtps2dq under the default rounding mode.
inline float RoundEven(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23
  return (v + kMagic) - kMagic;          // not reassociated without -ffast-math
}

// Portable per-row quantisation; returns s_x. out gets `padded` values (zeros after k), each
// q + offset.
template <typename Out>
float QuantizeRowScalar(const float* x, std::size_t k, Out* out, std::size_t padded, int offset) {
  float max_abs = 0.0f;
  for (std::size_t i = 0; i < k; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float inv = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
  for (std::size_t i = 0; i < k; ++i) {
    out[i] = static_cast<Out>(static_cast<int>(RoundEven(x[i] * inv)) + offset);
  }
  for (std::size_t i = k; i < padded; ++i) out[i] = static_cast<Out>(offset);
  return max_abs / 127.0f;
}

#ifdef SIEVE_NN_X86
__attribute__((target("avx2,fma"))) float MaxAbsAvx2(const float* x, std::size_t k) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 max_vec = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 8 <= k; i += 8)
    max_vec = _mm256_max_ps(max_vec, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, max_vec);
  float max_abs = 0.0f;
  for (float lane : lanes) max_abs = std::max(max_abs, lane);
  for (; i < k; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  return max_abs;
}

// The same integers as QuantizeRowScalar (x · inv, rounded half to even).
template <typename Out>
__attribute__((target("avx2,fma"))) float QuantizeRowAvx2(const float* x, std::size_t k, Out* out,
                                                          std::size_t padded, int offset) {
  const float max_abs = MaxAbsAvx2(x, k);
  const float inv = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
  const __m256 inv_vec = _mm256_set1_ps(inv);
  const __m256i offset_vec = _mm256_set1_epi32(offset);
  std::size_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256i q = _mm256_add_epi32(
        _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv_vec)), offset_vec);
    // -127..127 (s8) or 1..255 (u8, q + 128): packed to 16 then 8 bits within each 128-bit
    // lane, whose low dword then holds four values.
    static_assert(sizeof(Out) == 1);
    const __m256i words = _mm256_packs_epi32(q, q);
    const __m256i bytes = std::is_signed_v<Out>
                              ? _mm256_packs_epi16(words, _mm256_setzero_si256())
                              : _mm256_packus_epi16(words, _mm256_setzero_si256());
    const __m256i both =
        _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), _mm256_castsi256_si128(both));
  }
  for (; i < k; ++i) {
    out[i] = static_cast<Out>(static_cast<int>(RoundEven(x[i] * inv)) + offset);
  }
  for (; i < padded; ++i) out[i] = static_cast<Out>(offset);
  return max_abs / 127.0f;
}

// tile[r][c] = Σ_q a[r][4q..4q+3] · b[q][c][0..3], s8 × s8, rows × 16 columns: vpmaddubsw on
// |b| (u8, packed beside b as `mag`) and a with b's signs (vpsignb), whose pair sums (at most
// 2 · 127 · 127 < 2^15) cannot saturate, widened and added in pairs by vpmaddwd with ones.
template <int Rows>
__attribute__((target("avx2,fma"))) void TileAvx2(const std::int8_t* a, std::size_t lda,
                                                  const std::int8_t* b, const std::uint8_t* mag,
                                                  std::size_t quads, std::int32_t* tile) {
  __m256i acc[Rows][2];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  for (std::size_t q = 0; q < quads; ++q) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + q * 64));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + q * 64 + 32));
    const __m256i m0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mag + q * 64));
    const __m256i m1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mag + q * 64 + 32));
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      std::int32_t quad;
      std::memcpy(&quad, a + r * lda + 4 * q, sizeof(quad));
      const __m256i av = _mm256_set1_epi32(quad);
      const __m256i p0 = _mm256_maddubs_epi16(m0, _mm256_sign_epi8(av, w0));
      const __m256i p1 = _mm256_maddubs_epi16(m1, _mm256_sign_epi8(av, w1));
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, ones));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, ones));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * 16), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * 16 + 8), acc[r][1]);
  }
}

// y[r][0..16) = float(tile[r] (− 128 · sums when `sums`)) · (row_scales[r] · scales) (+ bias),
// the float epilogue of a full 16-column tile, 8 columns at a time.
__attribute__((target("avx2,fma"))) void EpilogueAvx2(const std::int32_t* tile, std::size_t rows,
                                                      const float* row_scales, const float* scales,
                                                      const std::int32_t* sums, const float* bias,
                                                      bool gelu, float* y, std::size_t ldy) {
  for (std::size_t half = 0; half < 2; ++half) {
    const __m256 w_scale = _mm256_loadu_ps(scales + half * 8);
    const __m256 b = bias != nullptr ? _mm256_loadu_ps(bias + half * 8) : _mm256_setzero_ps();
    const __m256i offset =
        sums != nullptr
            ? _mm256_slli_epi32(
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums + half * 8)), 7)
            : _mm256_setzero_si256();
    for (std::size_t r = 0; r < rows; ++r) {
      const __m256i acc = _mm256_sub_epi32(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + r * 16 + half * 8)), offset);
      // Same operations in the same order as the portable loop: sum · (s_x · s_w) + bias.
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(row_scales[r]), w_scale);
      const __m256 product = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);
      const __m256 value = bias != nullptr ? _mm256_add_ps(product, b) : product;
      _mm256_storeu_ps(y + r * ldy + half * 8, gelu ? simd::GeluAvx2(value) : value);
    }
  }
}

// tile[r][c] = Σ_q a[r][4q..4q+3] (u8) · b[q][c][0..3] (s8), rows × 16 columns.
template <int Rows>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void TileVnni(const std::uint8_t* a,
                                                                     std::size_t lda,
                                                                     const std::int8_t* b,
                                                                     std::size_t quads,
                                                                     std::int32_t* tile) {
  __m512i acc[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc[r] = _mm512_setzero_si512();
  for (std::size_t q = 0; q < quads; ++q) {
    const __m512i w = _mm512_loadu_si512(b + q * 64);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      std::int32_t quad;
      std::memcpy(&quad, a + r * lda + 4 * q, sizeof(quad));
      acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(quad), w);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) _mm512_storeu_si512(tile + r * 16, acc[r]);
}
#endif  // SIEVE_NN_X86

// tile[r][c] = Σ_i a[r][i] · b[c][i] for `cols` columns of row-major int8 weights.
void TileScalar(const std::int8_t* a, std::size_t lda, std::size_t rows, const std::int8_t* b,
                std::size_t k, std::size_t cols, std::int32_t* tile) {
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int8_t* row = a + r * lda;
    for (std::size_t c = 0; c < cols; ++c) {
      const std::int8_t* col = b + c * k;
      std::int32_t sum = 0;
      for (std::size_t i = 0; i < k; ++i) sum += std::int32_t{row[i]} * std::int32_t{col[i]};
      tile[r * 16 + c] = sum;
    }
  }
}

}  // namespace

std::string_view Int8KernelName(Int8Kernel kernel) {
  switch (kernel) {
    case Int8Kernel::kScalar:
      return "scalar";
    case Int8Kernel::kAvx2:
      return "avx2";
    case Int8Kernel::kAvx512Vnni:
      return "avx512-vnni";
  }
  return "?";
}

std::vector<Int8Kernel> SupportedInt8Kernels() {
  std::vector<Int8Kernel> kernels{Int8Kernel::kScalar};
#ifdef SIEVE_NN_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    kernels.push_back(Int8Kernel::kAvx2);
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni")) {
      kernels.push_back(Int8Kernel::kAvx512Vnni);
    }
  }
#endif
  return kernels;
}

Int8Kernel BestInt8Kernel() {
  static const Int8Kernel best = SupportedInt8Kernels().back();
  return best;
}

Int8Matrix Int8Matrix::Quantize(const float* w, std::size_t n, std::size_t k, Int8Kernel kernel) {
  Int8Matrix m;
  m.n_ = n;
  m.k_ = k;
  m.kernel_ = kernel;
  m.k_padded_ = RoundUp(k, Group(kernel));
  m.scales_.resize(n);
  m.sums_.assign(n, 0);
  std::vector<std::int8_t> q(n * k);
  for (std::size_t j = 0; j < n; ++j) {
    const float* row = w + j * k;
    float max_abs = 0.0f;
    for (std::size_t i = 0; i < k; ++i) max_abs = std::max(max_abs, std::fabs(row[i]));
    m.scales_[j] = max_abs / 127.0f;
    const float inv = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
    for (std::size_t i = 0; i < k; ++i) {
      const auto v = static_cast<std::int8_t>(
          std::clamp(static_cast<int>(std::nearbyint(row[i] * inv)), -127, 127));
      q[j * k + i] = v;
      m.sums_[j] += v;
    }
  }
  if (kernel == Int8Kernel::kScalar) {
    m.s8_ = std::move(q);
    return m;
  }
  // AVX2 and VNNI: [n/16][k/4][16][4], zero padded.
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  const std::size_t quads = m.k_padded_ / 4;
  m.s8_.assign(blocks * quads * kBlock * 4, 0);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < k; ++i) {
      m.s8_[((j / kBlock * quads + i / 4) * kBlock + j % kBlock) * 4 + i % 4] = q[j * k + i];
    }
  }
  if (kernel == Int8Kernel::kAvx2) {
    m.magnitudes_.resize(m.s8_.size());
    for (std::size_t e = 0; e < m.s8_.size(); ++e) {
      m.magnitudes_[e] = static_cast<std::uint8_t>(std::abs(int{m.s8_[e]}));
    }
  }
  return m;
}

std::size_t Int8Matrix::bytes() const {
  return s8_.size() + magnitudes_.size() + scales_.size() * sizeof(float) +
         sums_.size() * sizeof(std::int32_t);
}

float Int8Matrix::Dequantized(std::size_t j, std::size_t i) const {
  const int q =
      kernel_ == Int8Kernel::kScalar
          ? s8_[j * k_ + i]
          : s8_[((j / kBlock * (k_padded_ / 4) + i / 4) * kBlock + j % kBlock) * 4 + i % 4];
  return static_cast<float>(q) * scales_[j];
}

std::size_t LinearInt8ScratchFloats(std::size_t m, std::size_t k) {
  // Row scales (m rounded up to 4: the activations start 16-byte aligned), then m rows of k
  // rounded up to 4 one-byte values.
  return RoundUp(m, 4) + (m * RoundUp(k, 4) + sizeof(float) - 1) / sizeof(float);
}

void LinearInt8(const float* x, const Int8Matrix& w, const float* bias, float* y, std::size_t m,
                float* scratch, ThreadPool* pool, std::size_t ldy, bool gelu) {
  const std::size_t n = w.n_, k = w.k_, kp = w.k_padded_;
  if (m == 0 || n == 0) return;
  if (ldy == 0) ldy = n;
  const Int8Kernel kernel = w.kernel_;

  // 1. Quantise the activations, row by row.
  float* row_scales = scratch;
  void* activations = scratch + RoundUp(m, 4);  // 16-byte aligned
  auto* a8 = static_cast<std::int8_t*>(activations);
  auto* au8 = static_cast<std::uint8_t*>(activations);
  ParallelFor(pool, m, [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      const float* row = x + r * k;
      switch (kernel) {
        case Int8Kernel::kScalar:
          row_scales[r] = QuantizeRowScalar(row, k, a8 + r * kp, kp, 0);
          break;
#ifdef SIEVE_NN_X86
        case Int8Kernel::kAvx2:
          row_scales[r] = QuantizeRowAvx2(row, k, a8 + r * kp, kp, 0);
          break;
        case Int8Kernel::kAvx512Vnni:
          row_scales[r] = QuantizeRowAvx2(row, k, au8 + r * kp, kp, 128);
          break;
#else
        default:
          break;
#endif
      }
    }
  });

  // 2. Integer tiles of up to kMaxTileRows × 16, then the float epilogue.
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  const auto run_tile = [&](std::size_t r0, std::size_t rows, std::size_t block,
                            std::int32_t* tile) {
    const std::size_t c0 = block * kBlock;
    const std::size_t cols = std::min(kBlock, n - c0);
    switch (kernel) {
      case Int8Kernel::kScalar:
        TileScalar(a8 + r0 * kp, kp, rows, w.s8_.data() + c0 * k, k, cols, tile);
        break;
#ifdef SIEVE_NN_X86
      case Int8Kernel::kAvx2: {
        const std::int8_t* a = a8 + r0 * kp;
        const std::int8_t* b = w.s8_.data() + block * (kp / 4) * kBlock * 4;
        const std::uint8_t* mag = w.magnitudes_.data() + block * (kp / 4) * kBlock * 4;
        const std::size_t quads = kp / 4;
        switch (rows) {
          case 4:
            TileAvx2<4>(a, kp, b, mag, quads, tile);
            break;
          case 3:
            TileAvx2<3>(a, kp, b, mag, quads, tile);
            break;
          case 2:
            TileAvx2<2>(a, kp, b, mag, quads, tile);
            break;
          default:
            TileAvx2<1>(a, kp, b, mag, quads, tile);
            break;
        }
        break;
      }
      case Int8Kernel::kAvx512Vnni: {
        const std::uint8_t* a = au8 + r0 * kp;
        const std::int8_t* b = w.s8_.data() + block * (kp / 4) * kBlock * 4;
        const std::size_t quads = kp / 4;
        switch (rows) {
          case 8:
            TileVnni<8>(a, kp, b, quads, tile);
            break;
          case 7:
            TileVnni<7>(a, kp, b, quads, tile);
            break;
          case 6:
            TileVnni<6>(a, kp, b, quads, tile);
            break;
          case 5:
            TileVnni<5>(a, kp, b, quads, tile);
            break;
          case 4:
            TileVnni<4>(a, kp, b, quads, tile);
            break;
          case 3:
            TileVnni<3>(a, kp, b, quads, tile);
            break;
          case 2:
            TileVnni<2>(a, kp, b, quads, tile);
            break;
          default:
            TileVnni<1>(a, kp, b, quads, tile);
            break;
        }
        break;
      }
#else
      default:
        break;
#endif
    }
    const bool offset = kernel == Int8Kernel::kAvx512Vnni;  // u8 activations: q_x + 128
#ifdef SIEVE_NN_X86
    if (kernel != Int8Kernel::kScalar && cols == kBlock) {
      EpilogueAvx2(tile, rows, row_scales + r0, w.scales_.data() + c0,
                   offset ? w.sums_.data() + c0 : nullptr, bias == nullptr ? nullptr : bias + c0,
                   gelu, y + r0 * ldy + c0, ldy);
      return;
    }
#endif
    for (std::size_t r = 0; r < rows; ++r) {
      const float sx = row_scales[r0 + r];
      float* out = y + (r0 + r) * ldy + c0;
      const std::int32_t* sums = tile + r * 16;
      for (std::size_t c = 0; c < cols; ++c) {
        const std::int32_t sum = offset ? sums[c] - 128 * w.sums_[c0 + c] : sums[c];
        const float value = static_cast<float>(sum) * (sx * w.scales_[c0 + c]);
        out[c] = bias != nullptr ? value + bias[c0 + c] : value;
      }
      if (gelu) GeluErfInPlace(out, cols);
    }
  };
  const std::size_t tile_rows = kernel == Int8Kernel::kAvx512Vnni ? 8 : 4;
  const auto run_range = [&](std::size_t r_begin, std::size_t r_end, std::size_t b_begin,
                             std::size_t b_end) {
    alignas(64) std::int32_t tile[kMaxTileRows * 16];
    for (std::size_t chunk = r_begin; chunk < r_end; chunk += kRowChunk) {
      const std::size_t chunk_end = std::min(r_end, chunk + kRowChunk);
      for (std::size_t block = b_begin; block < b_end; ++block) {
        for (std::size_t r = chunk; r < chunk_end; r += tile_rows) {
          run_tile(r, std::min(tile_rows, chunk_end - r), block, tile);
        }
      }
    }
  };
  const std::size_t threads = Parallelism(pool);
  if (threads == 1) {
    run_range(0, m, 0, blocks);
  } else if (m >= kRowsPerThread * threads) {
    ParallelFor(pool, m,
                [&](std::size_t begin, std::size_t end) { run_range(begin, end, 0, blocks); });
  } else {
    ParallelFor(pool, blocks,
                [&](std::size_t begin, std::size_t end) { run_range(0, m, begin, end); });
  }
}

}  // namespace sieve::nn
