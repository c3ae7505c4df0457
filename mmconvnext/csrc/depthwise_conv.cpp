// Depthwise convolution on channels-last CPU tensors: forward, input gradient and weight gradient.
//
// Written by hand because the kernel every PyTorch CPU path calls for a depthwise 7x7 weight gradient
// (oneDNN's, through aten::convolution_backward) ran at 3-6 GFLOP/s on the machines of this project, about a
// seventh of a training step of ConvNeXt-T; no installable library provides another for eager PyTorch.
//
// Layout: x and the gradients are (N, H, W, C) contiguous (a channels-last NCHW tensor permuted), the weight
// is (K, K, C) contiguous. Stride 1, "same" zero padding d * (K / 2), dilation d, odd K.
// fp32 with K = 3, 5 or 7 runs the register-blocked loops of depthwise_simd.h, built twice (AVX2 + FMA and
// AVX-512) and chosen at run time from the CPU's flags (`isa`); other K and fp64 run the generic loops below.
// Written by hand: no library has channels-last depthwise kernels for eager PyTorch beside oneDNN's.
// Work is shared out with at::parallel_for over (rows, channel tiles of 32).
// The weight gradient sums per fixed chunk of rows, then the chunks in order: the chunks are a function of the
// shape only, so the result does not depend on the number of threads or their timing (no atomics).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace {

constexpr int64_t kBlock = 32;  // channels per register block (8 AVX2 / 2 AVX-512 vectors of fp32)

struct Shape {
  int64_t n, h, w, c;
  int64_t k, d, p;
};

Shape shape_of(const torch::Tensor& x, const torch::Tensor& weight, int64_t dilation) {
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous(), "depthwise_conv: x must be a contiguous (N, H, W, C) tensor");
  TORCH_CHECK(weight.dim() == 3 && weight.is_contiguous() && weight.size(0) == weight.size(1) &&
                  weight.size(0) % 2 == 1 && weight.size(2) == x.size(3),
              "depthwise_conv: weight must be a contiguous (K, K, C) tensor with odd K and x's C");
  TORCH_CHECK(dilation >= 1, "depthwise_conv: dilation must be >= 1");
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "depthwise_conv: x and weight must have one dtype");
  const int64_t k = weight.size(0);
  return Shape{x.size(0), x.size(1), x.size(2), x.size(3), k, dilation, dilation * (k / 2)};
}

// y[n, h, w, :] = bias + sum_{i, j} x[n, h + i*d - p, w + j*d - p, :] * wt[i, j, :]
template <typename T>
void conv_rows(const T* x, const T* wt, const T* bias, T* y, const Shape& s) {
  at::parallel_for(0, s.n * s.h, 1, [&](int64_t r0, int64_t r1) {
    T acc[kBlock];
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / s.h, h = r % s.h;
      for (int64_t c0 = 0; c0 < s.c; c0 += kBlock) {
        const int64_t cn = std::min(kBlock, s.c - c0);
        for (int64_t w = 0; w < s.w; ++w) {
          for (int64_t c = 0; c < cn; ++c) acc[c] = bias ? bias[c0 + c] : T(0);
          for (int64_t i = 0; i < s.k; ++i) {
            const int64_t ih = h + i * s.d - s.p;
            if (ih < 0 || ih >= s.h) continue;
            const T* xrow = x + (n * s.h + ih) * s.w * s.c + c0;
            const T* wrow = wt + i * s.k * s.c + c0;
            for (int64_t j = 0; j < s.k; ++j) {
              const int64_t iw = w + j * s.d - s.p;
              if (iw < 0 || iw >= s.w) continue;
              const T* xp = xrow + iw * s.c;
              const T* wp = wrow + j * s.c;
              if (cn == kBlock) {
#pragma omp simd
                for (int64_t c = 0; c < kBlock; ++c) acc[c] += xp[c] * wp[c];
              } else {
                for (int64_t c = 0; c < cn; ++c) acc[c] += xp[c] * wp[c];
              }
            }
          }
          T* yp = y + ((n * s.h + h) * s.w + w) * s.c + c0;
          for (int64_t c = 0; c < cn; ++c) yp[c] = acc[c];
        }
      }
    }
  });
}

// part[i, j, :] += sum over the rows of one chunk of x[n, h + i*d - p, w + j*d - p, :] * dy[n, h, w, :]
template <typename T>
void weight_grad_chunk(const T* x, const T* dy, T* part, int64_t r0, int64_t r1, const Shape& s) {
  T acc[kBlock];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.h, h = r % s.h;
    for (int64_t i = 0; i < s.k; ++i) {
      const int64_t ih = h + i * s.d - s.p;
      if (ih < 0 || ih >= s.h) continue;
      for (int64_t j = 0; j < s.k; ++j) {
        // the output columns whose input column w + j*d - p lies inside the map
        const int64_t lo = std::max<int64_t>(0, s.p - j * s.d);
        const int64_t hi = std::min<int64_t>(s.w, s.w + s.p - j * s.d);
        if (lo >= hi) continue;
        for (int64_t c0 = 0; c0 < s.c; c0 += kBlock) {
          const int64_t cn = std::min(kBlock, s.c - c0);
          T* pp = part + (i * s.k + j) * s.c + c0;
          const T* xp = x + ((n * s.h + ih) * s.w + lo + j * s.d - s.p) * s.c + c0;
          const T* gp = dy + ((n * s.h + h) * s.w + lo) * s.c + c0;
          if (cn == kBlock) {
            for (int64_t c = 0; c < kBlock; ++c) acc[c] = pp[c];
            for (int64_t w = lo; w < hi; ++w, xp += s.c, gp += s.c) {
#pragma omp simd
              for (int64_t c = 0; c < kBlock; ++c) acc[c] += xp[c] * gp[c];
            }
            for (int64_t c = 0; c < kBlock; ++c) pp[c] = acc[c];
          } else {
            for (int64_t w = lo; w < hi; ++w, xp += s.c, gp += s.c) {
              for (int64_t c = 0; c < cn; ++c) pp[c] += xp[c] * gp[c];
            }
          }
        }
      }
    }
  }
}


// ---- the vectorised fp32 loops, once per instruction set ----------------------------------------------------
// Each namespace sets the register blocks (lanes per vector; forward: vectors x output columns; weight gradient:
// vectors x output columns), then depthwise_simd.h defines its loops and the tile functions the drivers call.

namespace avx2 {  // 16 vector registers: forward 7 columns x 1 vector (+ 7 weights), weight 7 taps + 6 columns
constexpr int kLanes = 8, kFwdVectors = 1, kFwdColumns = 7, kWeightVectors = 1, kWeightColumns = 6;
#include "depthwise_simd.h"
}  // namespace avx2

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,fma")
namespace avx512 {  // 32 vector registers: forward 7 columns x 2 vectors (+ 14 weights), weight 7 taps + 8 columns
constexpr int kLanes = 16, kFwdVectors = 2, kFwdColumns = 7, kWeightVectors = 1, kWeightColumns = 8;
#include "depthwise_simd.h"
}  // namespace avx512
#pragma GCC pop_options

using ForwardTile = void (*)(const float*, const float*, const float*, float*, const Shape&, int64_t, int64_t,
                             int64_t);
using WeightTile = void (*)(const float*, const float*, float*, const Shape&, int64_t, int64_t, int64_t, int64_t);

constexpr int64_t kTile = 32;  // channels per work item
// The kernels' version: a compute-path choice timed with one version is not followed with another. Raise it
// with every change to what the loops compute or how fast.
constexpr int kVersion = 2;

// The instruction set the fp32 loops use: the widest this CPU has, or the one asked for ("" = widest);
// "generic" = the plain loops above (any dtype and K). An unknown or unsupported name is refused.
std::string pick_isa(const std::string& asked) {
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (asked.empty()) return has512 ? "avx512" : (has2 ? "avx2" : "generic");
  TORCH_CHECK(asked == "avx512" || asked == "avx2" || asked == "generic",
              "depthwise_conv: isa must be '', 'avx512', 'avx2' or 'generic', got '", asked, "'");
  TORCH_CHECK(asked != "avx512" || has512, "depthwise_conv: this CPU lacks AVX-512 (isa='avx512')");
  TORCH_CHECK(asked != "avx2" || has2, "depthwise_conv: this CPU lacks AVX2/FMA (isa='avx2')");
  return asked;
}

bool simd_case(const torch::Tensor& x, const Shape& s, const std::string& isa) {
  return isa != "generic" && x.scalar_type() == torch::kFloat && (s.k == 3 || s.k == 5 || s.k == 7);
}

void forward_simd(const float* x, const float* wt, const float* bias, float* y, const Shape& s,
                  const std::string& isa) {
  const ForwardTile tile = isa == "avx512" ? avx512::forward_tile : avx2::forward_tile;
  const int64_t tiles = (s.c + kTile - 1) / kTile;
  at::parallel_for(0, s.n * s.h * tiles, 1, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t row = e / tiles, c0 = (e % tiles) * kTile;
      tile(x, wt, bias, y, s, row, c0, std::min(s.c, c0 + kTile));
    }
  });
}

void weight_simd(const float* x, const float* dy, float* out, const Shape& s, const std::string& isa) {
  const WeightTile tile = isa == "avx512" ? avx512::weight_tile : avx2::weight_tile;
  const int64_t tiles = (s.c + kTile - 1) / kTile, rows = s.n * s.h;
  // row chunks: about 64 work items in all, a function of the shape only (so of no thread count)
  const int64_t chunks = std::min(rows, std::max<int64_t>(1, (64 + tiles - 1) / tiles));
  const int64_t per_chunk = (rows + chunks - 1) / chunks, per = s.k * s.k * s.c;
  std::vector<float> partial(chunks * per);  // zeros: each (chunk, tile) item adds into its own slice
  at::parallel_for(0, chunks * tiles, 1, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t k = e / tiles, c0 = (e % tiles) * kTile;
      const int64_t r0 = k * per_chunk, r1 = std::min(rows, r0 + per_chunk);
      tile(x, dy, partial.data() + k * per, s, r0, r1, c0, std::min(s.c, c0 + kTile));  // (an empty chunk: none)
    }
  });
  at::parallel_for(0, per, 1024, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      float sum = 0;
      for (int64_t k = 0; k < chunks; ++k) sum += partial[k * per + e];  // chunk order: fixed
      out[e] = sum;
    }
  });
}

}  // namespace

// (N, H, W, C) x (K, K, C) [+ (C,)] -> (N, H, W, C)
torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weight, const c10::optional<torch::Tensor>& bias,
                      int64_t dilation, const std::string& isa_asked) {
  const Shape s = shape_of(x, weight, dilation);
  const std::string isa = pick_isa(isa_asked);
  auto y = torch::empty_like(x);
  const bool has_bias = bias.has_value() && bias->defined();
  TORCH_CHECK(!has_bias || (bias->is_contiguous() && bias->numel() == s.c && bias->scalar_type() == x.scalar_type()),
              "depthwise_conv: bias must be a contiguous (C,) tensor of x's dtype");
  if (simd_case(x, s, isa)) {
    forward_simd(x.data_ptr<float>(), weight.data_ptr<float>(), has_bias ? bias->data_ptr<float>() : nullptr,
                 y.data_ptr<float>(), s, isa);
    return y;
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "depthwise_conv_forward", [&] {
    const scalar_t* b = has_bias ? bias->data_ptr<scalar_t>() : nullptr;
    conv_rows<scalar_t>(x.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(), b, y.data_ptr<scalar_t>(), s);
  });
  return y;
}

// dL/dx: the same convolution of dy with the kernel turned by 180 degrees, no bias
torch::Tensor input_grad(const torch::Tensor& grad_y, const torch::Tensor& weight, int64_t dilation,
                         const std::string& isa) {
  return forward(grad_y, weight.flip({0, 1}).contiguous(), c10::nullopt, dilation, isa);
}

// dL/dweight as (K, K, C), deterministic
torch::Tensor weight_grad(const torch::Tensor& x, const torch::Tensor& grad_y, int64_t kernel_size,
                          int64_t dilation, const std::string& isa_asked) {
  TORCH_CHECK(kernel_size % 2 == 1 && kernel_size >= 1, "depthwise_conv: kernel_size must be odd");
  TORCH_CHECK(grad_y.sizes() == x.sizes() && grad_y.is_contiguous() && grad_y.scalar_type() == x.scalar_type(),
              "depthwise_conv: grad_y must be a contiguous tensor of x's shape and dtype");
  const Shape s = shape_of(x, torch::empty({kernel_size, kernel_size, x.size(3)}, x.options()), dilation);
  const std::string isa = pick_isa(isa_asked);
  auto grad_w = torch::empty({s.k, s.k, s.c}, x.options());
  if (simd_case(x, s, isa)) {
    weight_simd(x.data_ptr<float>(), grad_y.data_ptr<float>(), grad_w.data_ptr<float>(), s, isa);
    return grad_w;
  }
  const int64_t rows = s.n * s.h;
  // chunks of a fixed number of rows (a function of the shape only): at most 64 partial kernels
  const int64_t chunk = std::max<int64_t>(1, (rows + 63) / 64);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  const int64_t per = s.k * s.k * s.c;
  auto partial = torch::zeros({chunks, per}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "depthwise_conv_weight_grad", [&] {
    const scalar_t* xd = x.data_ptr<scalar_t>();
    const scalar_t* gd = grad_y.data_ptr<scalar_t>();
    scalar_t* pd = partial.data_ptr<scalar_t>();
    at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        weight_grad_chunk<scalar_t>(xd, gd, pd + k * per, k * chunk, std::min(rows, (k + 1) * chunk), s);
      }
    });
    scalar_t* out = grad_w.data_ptr<scalar_t>();
    at::parallel_for(0, per, 1024, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) {
        scalar_t sum = 0;
        for (int64_t k = 0; k < chunks; ++k) sum += pd[k * per + e];  // chunk order: fixed
        out[e] = sum;
      }
    });
  });
  return grad_w;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "mmconvnext's channels-last depthwise convolution kernels (CPU)";
  namespace py = pybind11;
  m.def("forward", &forward, "y = depthwise conv of x (N, H, W, C) with weight (K, K, C) [+ bias]", py::arg("x"),
        py::arg("weight"), py::arg("bias"), py::arg("dilation"), py::arg("isa") = "");
  m.def("input_grad", &input_grad, "dL/dx from dL/dy (N, H, W, C) and weight (K, K, C)", py::arg("grad_y"),
        py::arg("weight"), py::arg("dilation"), py::arg("isa") = "");
  m.def("weight_grad", &weight_grad, "dL/dweight (K, K, C) from x and dL/dy (N, H, W, C), deterministic",
        py::arg("x"), py::arg("grad_y"), py::arg("kernel_size"), py::arg("dilation"), py::arg("isa") = "");
  m.def("isa", [] { return pick_isa(""); }, "the instruction set the fp32 loops use on this CPU");
  m.def("version", [] { return kVersion; }, "the kernels' version");
}
