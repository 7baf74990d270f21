// The RGB observation's per-pixel work as an XLA FFI custom call (CPU).
//
// XLA's CPU code writes uint8[N, 84, 84, 3] frames slowly: a strided column of 3-byte pixels,
// a per-byte select or a broadcast per ego costs several times a plain memcpy. Everything that
// decides *what* is drawn (pixel coordinates, colours, who sees whom) stays in JAX
// (observe.rgb_obs); this kernel only composes the bytes, so the two paths agree bit for bit
// (tests/test_native_render.py).
//
// Per ego e of each environment:
//   1. frame = base (the map, with the waypoint);
//   2. rows x = 0 and x = R - 1 and column y = 0 := border[e]; column y = R - 1 := bar[e];
//   3. every pixel (px[t, p], py[t, p]) inside the image max-blends colour[view[e], t, p];
//   4. the ego on top: its pixels (ego_px[e, p], py[e, p]) are cleared, then ego_colour[e, p]
//      max-blended into them.
// Coordinates outside [0, R) are dropped (never wrapped).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Frames {
  int64_t batch, n, views, pixels, r;
  const uint8_t* base;        // [B, R, R, 3]
  const uint8_t* colour;      // [B, V, N, P, 3]
  const int32_t* px;          // [B, N, P]
  const int32_t* py;          // [B, N, P]
  const int32_t* view;        // [B, N]
  const int32_t* ego_px;      // [B, N, P]
  const uint8_t* ego_colour;  // [B, N, P, 3]
  const uint8_t* border;      // [B, N, 3]
  const uint8_t* bar;         // [B, N, R, 3]
  uint8_t* out;               // [B, N, R, R, 3]

  int64_t frame_size() const { return r * r * 3; }
  bool inside(int32_t x, int32_t y) const { return x >= 0 && x < r && y >= 0 && y < r; }
  bool on_edge(int32_t x, int32_t y) const { return x == 0 || x == r - 1 || y == 0 || y == r - 1; }

  static void blend(uint8_t* pixel, const uint8_t* colour) {
    for (int c = 0; c < 3; ++c) pixel[c] = std::max(pixel[c], colour[c]);
  }

  // Max-blend view v's agents of environment b into img. With `edge_pixels`, the pixels that
  // fall on the border or the bar are also listed there (as agent-pixel indices), so that each
  // ego sharing the view can blend them again over its own edges without scanning them all.
  void agents(int64_t b, int64_t v, uint8_t* img, std::vector<int64_t>* edge_pixels) const {
    const int64_t count = n * pixels;
    const uint8_t* colours = colour + (b * views + v) * count * 3;
    const int32_t* xs = px + b * count;
    const int32_t* ys = py + b * count;
    for (int64_t i = 0; i < count; ++i) {
      const int32_t x = xs[i], y = ys[i];
      if (!inside(x, y)) continue;
      blend(img + (x * r + y) * 3, colours + i * 3);
      if (edge_pixels && on_edge(x, y)) edge_pixels->push_back(i);
    }
  }

  void blend_listed(int64_t b, int64_t v, uint8_t* img, const std::vector<int64_t>& listed) const {
    const int64_t count = n * pixels;
    const uint8_t* colours = colour + (b * views + v) * count * 3;
    for (int64_t i : listed) blend(img + (px[b * count + i] * r + py[b * count + i]) * 3, colours + i * 3);
  }

  // img := src with frame f = b * N + e's own border and bar, row by row: each row is patched
  // while its lines are in L1. (One memcpy of the whole frame, then the patch, was 15-25 %
  // slower per step: the two edge columns touch every row, which the copy had left out of L1.)
  // `row` holds R pixels of the border colour.
  void copy_with_edges(int64_t f, uint8_t* img, const uint8_t* src, const uint8_t* row) const {
    const uint8_t* edge = border + f * 3;
    const uint8_t* column = bar + f * r * 3;
    const int64_t stride = r * 3;
    for (int64_t x = 0; x < r; ++x) {
      uint8_t* line = img + x * stride;
      if (x == 0 || x == r - 1) {
        std::memcpy(line, row, stride);
      } else {
        std::memcpy(line, src + x * stride, stride);
        std::memcpy(line, edge, 3);
      }
      std::memcpy(line + stride - 3, column + x * 3, 3);
    }
  }

  // The ego on top: its pixels cleared, then its colours max-blended into them.
  void ego(int64_t f, uint8_t* img) const {
    const int32_t* xs = ego_px + f * pixels;
    const int32_t* ys = py + f * pixels;
    const uint8_t* colours = ego_colour + f * pixels * 3;
    for (int64_t p = 0; p < pixels; ++p)
      if (inside(xs[p], ys[p])) std::memset(img + (xs[p] * r + ys[p]) * 3, 0, 3);
    for (int64_t p = 0; p < pixels; ++p)
      if (inside(xs[p], ys[p])) blend(img + (xs[p] * r + ys[p]) * 3, colours + p * 3);
  }

  // Every frame of environment b. With fewer views than egos (full observability: one per
  // team), the first ego of each view gets the view's agents drawn over the map; each later ego
  // of that view copies that frame while it is still in cache, overwrites the edges with its
  // own border and bar and blends the view's agents there again; each ego is drawn last. With a
  // view per ego (partial observability), every frame starts from the map.
  void environment(int64_t b, std::vector<std::vector<int64_t>>& listed, std::vector<int64_t>& first) const {
    const int64_t size = frame_size();
    const uint8_t* map = base + b * size;
    const bool shared = views < n;
    if (shared) std::fill(first.begin(), first.end(), -1);
    uint8_t row[3 * 1024];  // r <= 1024 is checked by the caller
    uint8_t row_colour[3] = {0, 0, 0};
    bool row_filled = false;
    for (int64_t e = 0; e < n; ++e) {
      const int64_t f = b * n + e;
      uint8_t* img = out + f * size;
      const uint8_t* edge = border + f * 3;
      if (!row_filled || std::memcmp(row_colour, edge, 3) != 0) {  // border colours repeat
        for (int64_t y = 0; y < r; ++y) std::memcpy(row + y * 3, edge, 3);
        std::memcpy(row_colour, edge, 3);
        row_filled = true;
      }
      const int32_t v = view[f];
      const bool drawn = v >= 0 && v < views;  // checked in Python; a bad index draws no agents
      if (!shared || !drawn) {
        copy_with_edges(f, img, map, row);
        if (drawn) agents(b, v, img, nullptr);
        ego(f, img);
      } else if (first[v] < 0) {
        first[v] = e;
        listed[v].clear();
        copy_with_edges(f, img, map, row);
        agents(b, v, img, &listed[v]);  // its ego is drawn once the view has been copied
      } else {
        copy_with_edges(f, img, out + (b * n + first[v]) * size, row);
        blend_listed(b, v, img, listed[v]);
        ego(f, img);
      }
    }
    if (shared)
      for (int64_t v = 0; v < views; ++v)
        if (first[v] >= 0) ego(b * n + first[v], out + (b * n + first[v]) * size);
  }
};

// Environments are handed out one at a time through an atomic counter shared by the calling
// thread and the tasks it schedules on XLA's intra-op pool. The caller only waits for
// environments already taken, which are being worked on, so a busy pool cannot deadlock it; a
// task that starts after the call has returned finds nothing left and touches only the state it
// co-owns.
struct Work {
  Frames frames;
  int64_t total;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};

  void run() {
    const bool shared = frames.views < frames.n;
    std::vector<std::vector<int64_t>> listed(shared ? frames.views : 0);
    std::vector<int64_t> first(shared ? frames.views : 0);
    for (int64_t b; (b = next.fetch_add(1)) < total;) {
      frames.environment(b, listed, first);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

template <typename Dims>
int64_t leading(const Dims& dims, size_t trailing) {
  int64_t size = 1;
  for (size_t i = 0; i + trailing < dims.size(); ++i) size *= dims[i];
  return size;
}

ffi::Error RgbFramesImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::U8> base, ffi::Buffer<ffi::U8> colour,
                         ffi::Buffer<ffi::S32> px, ffi::Buffer<ffi::S32> py, ffi::Buffer<ffi::S32> view,
                         ffi::Buffer<ffi::S32> ego_px, ffi::Buffer<ffi::U8> ego_colour,
                         ffi::Buffer<ffi::U8> border, ffi::Buffer<ffi::U8> bar,
                         ffi::ResultBuffer<ffi::U8> out) {
  auto bd = base.dimensions(), cd = colour.dimensions(), pd = px.dimensions();
  if (bd.size() < 3 || cd.size() < 4 || pd.size() < 2)
    return ffi::Error::InvalidArgument("rgb_frames: base, colour and px need at least 3, 4 and 2 dims");
  Frames f;
  f.r = bd[bd.size() - 2];
  f.batch = leading(bd, 3);
  f.n = pd[pd.size() - 2];
  f.pixels = pd[pd.size() - 1];
  f.views = cd[cd.size() - 4];
  const int64_t frames = f.batch * f.n;
  if (bd[bd.size() - 3] != f.r || bd[bd.size() - 1] != 3 || leading(pd, 2) != f.batch ||
      static_cast<int64_t>(colour.element_count()) != f.batch * f.views * f.n * f.pixels * 3 ||
      static_cast<int64_t>(py.element_count()) != frames * f.pixels ||
      static_cast<int64_t>(ego_px.element_count()) != frames * f.pixels ||
      static_cast<int64_t>(view.element_count()) != frames ||
      static_cast<int64_t>(ego_colour.element_count()) != frames * f.pixels * 3 ||
      static_cast<int64_t>(border.element_count()) != frames * 3 ||
      static_cast<int64_t>(bar.element_count()) != frames * f.r * 3 ||
      static_cast<int64_t>(out->element_count()) != frames * f.r * f.r * 3)
    return ffi::Error::InvalidArgument("rgb_frames: operand shapes do not agree");
  f.base = base.typed_data();
  f.colour = colour.typed_data();
  f.px = px.typed_data();
  f.py = py.typed_data();
  f.view = view.typed_data();
  f.ego_px = ego_px.typed_data();
  f.ego_colour = ego_colour.typed_data();
  f.border = border.typed_data();
  f.bar = bar.typed_data();
  f.out = out->typed_data();

  if (f.r > 1024) return ffi::Error::InvalidArgument("rgb_frames: resolution above 1024");

  // An environment (N frames, 211 kB at 5 vs 5) is the unit of work: enough to amortise it.
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), f.batch) - 1;
  auto work = std::make_shared<Work>();
  work->frames = f;
  work->total = f.batch;
  for (int64_t i = 0; i < helpers; ++i) pool.Schedule([work] { work->run(); });
  work->run();
  while (work->done.load(std::memory_order_acquire) < f.batch) std::this_thread::yield();
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GigastepRgbFrames, RgbFramesImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::U8>>()   // base
                                  .Arg<ffi::Buffer<ffi::U8>>()   // colour
                                  .Arg<ffi::Buffer<ffi::S32>>()  // px
                                  .Arg<ffi::Buffer<ffi::S32>>()  // py
                                  .Arg<ffi::Buffer<ffi::S32>>()  // view
                                  .Arg<ffi::Buffer<ffi::S32>>()  // ego_px
                                  .Arg<ffi::Buffer<ffi::U8>>()   // ego_colour
                                  .Arg<ffi::Buffer<ffi::U8>>()   // border
                                  .Arg<ffi::Buffer<ffi::U8>>()   // bar
                                  .Ret<ffi::Buffer<ffi::U8>>());
