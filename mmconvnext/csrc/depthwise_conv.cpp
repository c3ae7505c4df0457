// Depthwise convolution on channels-last CPU tensors: forward, input gradient and weight gradient.
//
// Written by hand because the kernel every PyTorch CPU path calls for a depthwise 7x7 weight gradient
// (oneDNN's, through aten::convolution_backward) ran at 3-6 GFLOP/s on the machines of this project, about a
// seventh of a training step of ConvNeXt-T; no installable library provides another for eager PyTorch.
//
// Layout: x and the gradients are (N, H, W, C) contiguous (a channels-last NCHW tensor permuted), the weight
// is (K, K, C) contiguous. Stride 1, "same" zero padding d * (K / 2), dilation d, odd K.
// Every loop runs over channels innermost (contiguous in channels-last memory) in blocks of kBlock, held in
// registers by the compiler's vectoriser; rows (n, h) are shared out with at::parallel_for.
// The weight gradient sums per fixed chunk of rows, then the chunks in order: the result does not depend on
// the number of threads or their timing (deterministic, no atomics).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
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

}  // namespace

// (N, H, W, C) x (K, K, C) [+ (C,)] -> (N, H, W, C)
torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weight, const c10::optional<torch::Tensor>& bias,
                      int64_t dilation) {
  const Shape s = shape_of(x, weight, dilation);
  auto y = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "depthwise_conv_forward", [&] {
    const scalar_t* b = nullptr;
    if (bias.has_value() && bias->defined()) {
      TORCH_CHECK(bias->is_contiguous() && bias->numel() == s.c, "depthwise_conv: bias must be (C,)");
      b = bias->data_ptr<scalar_t>();
    }
    conv_rows<scalar_t>(x.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(), b, y.data_ptr<scalar_t>(), s);
  });
  return y;
}

// dL/dx: the same convolution of dy with the kernel turned by 180 degrees, no bias
torch::Tensor input_grad(const torch::Tensor& grad_y, const torch::Tensor& weight, int64_t dilation) {
  return forward(grad_y, weight.flip({0, 1}).contiguous(), c10::nullopt, dilation);
}

// dL/dweight as (K, K, C), deterministic
torch::Tensor weight_grad(const torch::Tensor& x, const torch::Tensor& grad_y, int64_t kernel_size,
                          int64_t dilation) {
  TORCH_CHECK(kernel_size % 2 == 1 && kernel_size >= 1, "depthwise_conv: kernel_size must be odd");
  TORCH_CHECK(grad_y.sizes() == x.sizes() && grad_y.is_contiguous(), "depthwise_conv: grad_y must be x's shape");
  const Shape s = shape_of(x, torch::empty({kernel_size, kernel_size, x.size(3)}, x.options()), dilation);
  const int64_t rows = s.n * s.h;
  // chunks of a fixed number of rows (a function of the shape only): at most 64 partial kernels
  const int64_t chunk = std::max<int64_t>(1, (rows + 63) / 64);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  const int64_t per = s.k * s.k * s.c;
  auto partial = torch::zeros({chunks, per}, x.options());
  auto grad_w = torch::empty({s.k, s.k, s.c}, x.options());
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
  m.def("forward", &forward, "y = depthwise conv of x (N, H, W, C) with weight (K, K, C) [+ bias]");
  m.def("input_grad", &input_grad, "dL/dx from dL/dy (N, H, W, C) and weight (K, K, C)");
  m.def("weight_grad", &weight_grad, "dL/dweight (K, K, C) from x and dL/dy (N, H, W, C), deterministic");
}
