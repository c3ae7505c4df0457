// The fp32 depthwise-conv kernels, vectorised over channels with GCC vector types.
//
// Included once per instruction set by depthwise_conv.cpp, inside a `#pragma GCC target` region and a namespace
// of its own (no header guard on purpose, and no #include here: everything it needs is declared before it:
// Shape and the namespace's block sizes kLanes, kFwdVectors, kFwdColumns, kWeightVectors,
// kWeightColumns), so one source gives an AVX2 and an AVX-512 build of every loop; which one runs is decided at
// run time. forward_tile and weight_tile are what the drivers call.
//
// Layout as in depthwise_conv.cpp: (N, H, W, C) activations, (K, K, C) weights, stride 1, zero padding
// p = d * (K / 2), dilation d. Channels are innermost; a register block is NV vectors of L lanes. Loops over
// the K taps and the output columns of a block have compile-time bounds, so the compiler keeps their
// accumulators in registers:
//  - forward: WB output columns x NV vectors accumulate, each weight vector is loaded once per WB columns;
//  - weight gradient: the K taps of one kernel row x NV vectors accumulate over a whole output row, so each
//    gradient vector is loaded once per K products and each partial sum is written once per row.
// Columns whose taps all lie inside the map take the unchecked loops; the first and last p columns check.

template <int L>
struct Vec {
  // aligned(4): loads and stores at any float address; may_alias: read through float pointers
  typedef float type __attribute__((vector_size(L * 4), aligned(4), may_alias));
  static inline type load(const float* p) { return *reinterpret_cast<const type*>(p); }
  static inline void store(float* p, type v) { *reinterpret_cast<type*>(p) = v; }
  static inline type splat(float s) { return type{} + s; }
};

// y[h, w0 + o, c0 : c0 + NV*L] for o < nb (nb <= WB), rows of x/y given at their column 0 and channel c0.
// Per kernel row, the K weight vectors stay in registers and each input column of the block's reach is loaded
// once and multiplied into every output column it reaches (WB + (K-1) loads for WB x K products at d = 1).
template <int L, int NV, int K, int WB, bool Check>
inline void forward_block(const float* const* xrows, const float* wt, const float* bias, float* yrow, int64_t w0,
                          int64_t nb, int64_t W, int64_t C, int64_t d, int64_t p) {
  typedef Vec<L> V;
  typename V::type acc[WB][NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    const typename V::type b0 = bias ? V::load(bias + v * L) : V::splat(0.f);
#pragma GCC unroll 16
    for (int o = 0; o < WB; ++o) acc[o][v] = b0;
  }
  for (int i = 0; i < K; ++i) {
    const float* xrow = xrows[i];
    if (!xrow) continue;  // input row outside the map
    typename V::type wv[K][NV];
#pragma GCC unroll 16
    for (int j = 0; j < K; ++j)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) wv[j][v] = V::load(wt + (i * K + j) * C + v * L);
    if (d == 1) {  // input column w0 - p + q reaches outputs o = q - j
#pragma GCC unroll 32
      for (int q = 0; q < WB + K - 1; ++q) {
        const int64_t iw = w0 - p + q;
        if (Check && (iw < 0 || iw >= W || q >= nb + K - 1)) continue;
        typename V::type xv[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) xv[v] = V::load(xrow + iw * C + v * L);
#pragma GCC unroll 16
        for (int j = 0; j < K; ++j) {
          const int o = q - j;
          if (o < 0 || o >= WB) continue;
#pragma GCC unroll 16
          for (int v = 0; v < NV; ++v) acc[o][v] += xv[v] * wv[j][v];
        }
      }
      continue;
    }
#pragma GCC unroll 16
    for (int j = 0; j < K; ++j) {  // dilated: each output column's taps in turn
      const int64_t shift = j * d - p;
#pragma GCC unroll 16
      for (int o = 0; o < WB; ++o) {
        const int64_t iw = w0 + o + shift;
        if (Check && (o >= nb || iw < 0 || iw >= W)) continue;
        const float* xp = xrow + iw * C;
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[o][v] += V::load(xp + v * L) * wv[j][v];
      }
    }
  }
#pragma GCC unroll 16
  for (int o = 0; o < WB; ++o) {
    if (Check && o >= nb) break;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) V::store(yrow + (w0 + o) * C + v * L, acc[o][v]);
  }
}

// one output row of one register block: every column, interior blocks unchecked
template <int L, int NV, int K, int WB>
inline void forward_row(const float* const* xrows, const float* wt, const float* bias, float* yrow, int64_t W,
                        int64_t C, int64_t d, int64_t p) {
  for (int64_t w0 = 0; w0 < W; w0 += WB) {
    const int64_t nb = W - w0 < WB ? W - w0 : WB;
    if (nb == WB && w0 >= p && w0 + WB + p <= W)
      forward_block<L, NV, K, WB, false>(xrows, wt, bias, yrow, w0, WB, W, C, d, p);
    else
      forward_block<L, NV, K, WB, true>(xrows, wt, bias, yrow, w0, nb, W, C, d, p);
  }
}

// part[j, c0 : c0 + NV*L] (stride C per tap j) += sum over w of x[w + j*d - p] * dy[w], one kernel row.
// Blocks of WB output columns: their gradient vectors stay in registers, and at d = 1 each input column of the
// block's reach is loaded once and multiplied into every tap that pairs it with one of them.
template <int L, int NV, int K, int WB, bool Check>
inline void weight_block(const float* xrow, const float* grow, typename Vec<L>::type (*acc)[NV], int64_t w0,
                         int64_t nb, int64_t W, int64_t C, int64_t d, int64_t p) {
  typedef Vec<L> V;
  typename V::type g[WB][NV];
#pragma GCC unroll 16
  for (int o = 0; o < WB; ++o)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) g[o][v] = (Check && o >= nb) ? V::splat(0.f) : V::load(grow + (w0 + o) * C + v * L);
  if (d == 1) {  // input column w0 - p + q pairs with output o = q - j at tap j
#pragma GCC unroll 32
    for (int q = 0; q < WB + K - 1; ++q) {
      const int64_t iw = w0 - p + q;
      if (Check && (iw < 0 || iw >= W)) continue;
      typename V::type xv[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) xv[v] = V::load(xrow + iw * C + v * L);
#pragma GCC unroll 16
      for (int j = 0; j < K; ++j) {
        const int o = q - j;
        if (o < 0 || o >= WB || (Check && o >= nb)) continue;
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[j][v] += xv[v] * g[o][v];
      }
    }
    return;
  }
#pragma GCC unroll 16
  for (int o = 0; o < WB; ++o) {  // dilated: each output column's taps in turn
    if (Check && o >= nb) break;
#pragma GCC unroll 16
    for (int j = 0; j < K; ++j) {
      const int64_t iw = w0 + o + j * d - p;
      if (Check && (iw < 0 || iw >= W)) continue;
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[j][v] += V::load(xrow + iw * C + v * L) * g[o][v];
    }
  }
}

template <int L, int NV, int K, int WB>
inline void weight_row(const float* xrow, const float* grow, float* part, int64_t W, int64_t C, int64_t d,
                       int64_t p) {
  typedef Vec<L> V;
  typename V::type acc[K][NV];
#pragma GCC unroll 16
  for (int j = 0; j < K; ++j)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[j][v] = V::splat(0.f);
  for (int64_t w0 = 0; w0 < W; w0 += WB) {
    const int64_t nb = W - w0 < WB ? W - w0 : WB;
    if (nb == WB && w0 >= p && w0 + WB + p <= W)
      weight_block<L, NV, K, WB, false>(xrow, grow, acc, w0, WB, W, C, d, p);
    else
      weight_block<L, NV, K, WB, true>(xrow, grow, acc, w0, nb, W, C, d, p);
  }
#pragma GCC unroll 16
  for (int j = 0; j < K; ++j)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) V::store(part + j * C + v * L, V::load(part + j * C + v * L) + acc[j][v]);
}

// ---- one work item: a row (forward) or a chunk of rows (weight gradient) of one channel tile [c0, c1) --------
// Channels go in register blocks of kFwdVectors / kWeightVectors vectors, then single vectors, then 8 lanes, then
// one lane (the tail of a channel count that is no multiple of 8).

template <int K>
void forward_tile_k(const float* x, const float* wt, const float* bias, float* y, const Shape& s, int64_t row,
                    int64_t c0, int64_t c1) {
  const int64_t n = row / s.h, h = row % s.h, rs = s.w * s.c;
  const float* rows[K];  // the input rows each kernel row reads (nullptr: outside the map)
  for (int i = 0; i < K; ++i) {
    const int64_t ih = h + i * s.d - s.p;
    rows[i] = (ih < 0 || ih >= s.h) ? nullptr : x + (n * s.h + ih) * rs;
  }
  float* yrow = y + row * rs;
  const float* from[K];
  auto rows_at = [&](int64_t c) {  // the input rows at channel c
    for (int i = 0; i < K; ++i) from[i] = rows[i] ? rows[i] + c : nullptr;
    return from;
  };
  const int64_t w = s.w, cs = s.c, d = s.d, p = s.p;
  int64_t c = c0;
  for (; c + kFwdVectors * kLanes <= c1; c += kFwdVectors * kLanes)
    forward_row<kLanes, kFwdVectors, K, kFwdColumns>(rows_at(c), wt + c, bias ? bias + c : nullptr, yrow + c, w, cs,
                                                     d, p);
  for (; c + kLanes <= c1; c += kLanes)
    forward_row<kLanes, 1, K, kFwdColumns>(rows_at(c), wt + c, bias ? bias + c : nullptr, yrow + c, w, cs, d, p);
  for (; c + 8 <= c1; c += 8)
    forward_row<8, 1, K, kFwdColumns>(rows_at(c), wt + c, bias ? bias + c : nullptr, yrow + c, w, cs, d, p);
  for (; c < c1; ++c)
    forward_row<1, 1, K, kFwdColumns>(rows_at(c), wt + c, bias ? bias + c : nullptr, yrow + c, w, cs, d, p);
}

// part (K, K, C) += this chunk's rows' weight gradient on channels [c0, c1)
template <int K>
void weight_tile_k(const float* x, const float* dy, float* part, const Shape& s, int64_t r0, int64_t r1, int64_t c0,
                   int64_t c1) {
  const int64_t rs = s.w * s.c;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.h, h = r % s.h;
    const float* grow = dy + r * rs;
    for (int i = 0; i < K; ++i) {
      const int64_t ih = h + i * s.d - s.p;
      if (ih < 0 || ih >= s.h) continue;
      const float* xrow = x + (n * s.h + ih) * rs;
      float* prow = part + i * K * s.c;
      const int64_t w = s.w, cs = s.c, d = s.d, p = s.p;
      int64_t c = c0;
      for (; c + kWeightVectors * kLanes <= c1; c += kWeightVectors * kLanes)
        weight_row<kLanes, kWeightVectors, K, kWeightColumns>(xrow + c, grow + c, prow + c, w, cs, d, p);
      for (; c + kLanes <= c1; c += kLanes) weight_row<kLanes, 1, K, kWeightColumns>(xrow + c, grow + c, prow + c, w, cs, d, p);
      for (; c + 8 <= c1; c += 8) weight_row<8, 1, K, kWeightColumns>(xrow + c, grow + c, prow + c, w, cs, d, p);
      for (; c < c1; ++c) weight_row<1, 1, K, kWeightColumns>(xrow + c, grow + c, prow + c, w, cs, d, p);
    }
  }
}

void forward_tile(const float* x, const float* wt, const float* bias, float* y, const Shape& s, int64_t row,
                  int64_t c0, int64_t c1) {
  switch (s.k) {
    case 3: return forward_tile_k<3>(x, wt, bias, y, s, row, c0, c1);
    case 5: return forward_tile_k<5>(x, wt, bias, y, s, row, c0, c1);
    default: return forward_tile_k<7>(x, wt, bias, y, s, row, c0, c1);
  }
}

void weight_tile(const float* x, const float* dy, float* part, const Shape& s, int64_t r0, int64_t r1, int64_t c0,
                 int64_t c1) {
  switch (s.k) {
    case 3: return weight_tile_k<3>(x, dy, part, s, r0, r1, c0, c1);
    case 5: return weight_tile_k<5>(x, dy, part, s, r0, r1, c0, c1);
    default: return weight_tile_k<7>(x, dy, part, s, r0, r1, c0, c1);
  }
}
