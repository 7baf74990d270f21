// The RGB observation's per-pixel work as an XLA FFI custom call (CPU).
//
// XLA's CPU code writes uint8[N, 84, 84, 3] frames slowly: a strided column of 3-byte pixels,
// a per-byte select or a broadcast per ego costs several times a plain memcpy. Everything that
// decides *what* is drawn (pixel coordinates, colours, who sees whom) stays in JAX
// (observe.rgb_obs); this kernel only composes the bytes, so the two paths agree bit for bit
// (tests/test_native_render.py).
//
// Per ego e of each environment:
//   1. frame = maps[map_idx] (the map, with the waypoint if any);
//   2. rows x = 0 and x = R - 1 and column y = 0 := border[e]; column y = R - 1 := bar[e];
//   3. every pixel (px[t, p], py[t, p]) inside the image max-blends colour[view[e], t, p];
//   4. the ego on top: its pixels (ego_px[e, p], py[e, p]) are cleared, then ego_colour[e, p]
//      max-blended into them.
// Coordinates outside [0, R) are dropped (never wrapped).
//
// Batching (jax.ffi.ffi_call with vmap_method="expand_dims"): every operand has the same number
// L of leading batch axes as the output, each of size 1 (not batched along that axis: the same
// data for every environment, never copied by XLA) or of the output's size. So the maps of a
// scenario are passed once, unbatched, with a batched map index.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// One operand's data and its element strides along the output's leading (batch) axes: 0 along
// an axis it is not batched over.
template <typename T>
struct Operand {
  const T* data = nullptr;
  int64_t strides[8] = {0};

  const T* at(const int64_t* index, int64_t axes) const {
    int64_t offset = 0;
    for (int64_t i = 0; i < axes; ++i) offset += index[i] * strides[i];
    return data + offset;
  }
};

// Environment b's operands, each at its own entry.
struct Env {
  const uint8_t* maps;        // [M, R, R, 3]
  int32_t map_idx;
  const uint8_t* colour;      // [V, N, P, 3]
  const int32_t* px;          // [N, P]
  const int32_t* py;          // [N, P]
  const int32_t* view;        // [N]
  const int32_t* ego_px;      // [N, P]
  const uint8_t* ego_colour;  // [N, P, 3]
  const uint8_t* border;      // [N, 3]
  const uint8_t* bar;         // [N, R, 3]
  uint8_t* out;               // [N, R, R, 3]
};

struct Frames {
  int64_t batch, axes, n, views, pixels, r, n_maps;
  int64_t shape[8];  // the output's leading axes
  Operand<uint8_t> maps, colour, ego_colour, border, bar;
  Operand<int32_t> map_idx, px, py, view, ego_px;
  uint8_t* out;

  Env at(int64_t b) const {
    int64_t index[8];
    for (int64_t i = axes - 1, rest = b; i >= 0; --i) {
      index[i] = rest % shape[i];
      rest /= shape[i];
    }
    Env env;
    env.maps = maps.at(index, axes);
    env.map_idx = std::clamp<int32_t>(*map_idx.at(index, axes), 0, static_cast<int32_t>(n_maps - 1));  // as XLA's gather
    env.colour = colour.at(index, axes);
    env.px = px.at(index, axes);
    env.py = py.at(index, axes);
    env.view = view.at(index, axes);
    env.ego_px = ego_px.at(index, axes);
    env.ego_colour = ego_colour.at(index, axes);
    env.border = border.at(index, axes);
    env.bar = bar.at(index, axes);
    env.out = out + b * n * frame_size();
    return env;
  }

  int64_t frame_size() const { return r * r * 3; }
  bool inside(int32_t x, int32_t y) const { return x >= 0 && x < r && y >= 0 && y < r; }
  bool on_edge(int32_t x, int32_t y) const { return x == 0 || x == r - 1 || y == 0 || y == r - 1; }

  static void blend(uint8_t* pixel, const uint8_t* colour) {
    for (int c = 0; c < 3; ++c) pixel[c] = std::max(pixel[c], colour[c]);
  }

  // Max-blend view v's agents into img. With `edge_pixels`, the pixels that fall on the border
  // or the bar are also listed there (as agent-pixel indices), so that each ego sharing the
  // view can blend them again over its own edges without scanning them all.
  void agents(const Env& env, int64_t v, uint8_t* img, std::vector<int64_t>* edge_pixels) const {
    const uint8_t* colours = env.colour + v * n * pixels * 3;
    for (int64_t i = 0; i < n * pixels; ++i) {
      const int32_t x = env.px[i], y = env.py[i];
      if (!inside(x, y)) continue;
      blend(img + (x * r + y) * 3, colours + i * 3);
      if (edge_pixels && on_edge(x, y)) edge_pixels->push_back(i);
    }
  }

  void blend_listed(const Env& env, int64_t v, uint8_t* img, const std::vector<int64_t>& listed) const {
    const uint8_t* colours = env.colour + v * n * pixels * 3;
    for (int64_t i : listed) blend(img + (env.px[i] * r + env.py[i]) * 3, colours + i * 3);
  }

  // img := src with ego e's own border and bar, four rows (1 kB) at a time: each block is
  // patched while its lines are in L1. (Measured per frame: one memcpy of the whole frame, then
  // the patch, +17 % over a bare copy, since the two edge columns touch every row and the copy
  // had left them out of L1; row by row +15 %, the call per row; blocks of 4 rows +2 %.)
  // `row` holds R pixels of the border colour.
  void copy_with_edges(const Env& env, int64_t e, uint8_t* img, const uint8_t* src, const uint8_t* row) const {
    const uint8_t* edge = env.border + e * 3;
    const uint8_t* column = env.bar + e * r * 3;
    const int64_t stride = r * 3;
    for (int64_t x0 = 0; x0 < r; x0 += 4) {
      const int64_t x1 = std::min(r, x0 + 4);
      std::memcpy(img + x0 * stride, src + x0 * stride, (x1 - x0) * stride);
      for (int64_t x = x0; x < x1; ++x) {
        uint8_t* line = img + x * stride;
        if (x == 0 || x == r - 1)
          std::memcpy(line, row, stride);
        else
          std::memcpy(line, edge, 3);
        std::memcpy(line + stride - 3, column + x * 3, 3);
      }
    }
  }

  // The ego on top: its pixels cleared, then its colours max-blended into them.
  void ego(const Env& env, int64_t e, uint8_t* img) const {
    const int32_t* xs = env.ego_px + e * pixels;
    const int32_t* ys = env.py + e * pixels;
    const uint8_t* colours = env.ego_colour + e * pixels * 3;
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
    const Env env = at(b);
    const int64_t size = frame_size();
    const uint8_t* map = env.maps + env.map_idx * size;
    const bool shared = views < n;
    if (shared) std::fill(first.begin(), first.end(), -1);
    uint8_t row[3 * 1024];  // r <= 1024 is checked by the caller
    uint8_t row_colour[3] = {0, 0, 0};
    bool row_filled = false;
    for (int64_t e = 0; e < n; ++e) {
      uint8_t* img = env.out + e * size;
      const uint8_t* edge = env.border + e * 3;
      if (!row_filled || std::memcmp(row_colour, edge, 3) != 0) {  // border colours repeat
        for (int64_t y = 0; y < r; ++y) std::memcpy(row + y * 3, edge, 3);
        std::memcpy(row_colour, edge, 3);
        row_filled = true;
      }
      const int32_t v = env.view[e];
      const bool drawn = v >= 0 && v < views;  // checked in Python; a bad index draws no agents
      if (!shared || !drawn) {
        copy_with_edges(env, e, img, map, row);
        if (drawn) agents(env, v, img, nullptr);
        ego(env, e, img);
      } else if (first[v] < 0) {
        first[v] = e;
        listed[v].clear();
        copy_with_edges(env, e, img, map, row);
        agents(env, v, img, &listed[v]);  // its ego is drawn once the view has been copied
      } else {
        copy_with_edges(env, e, img, env.out + first[v] * size, row);
        blend_listed(env, v, img, listed[v]);
        ego(env, e, img);
      }
    }
    if (shared)
      for (int64_t v = 0; v < views; ++v)
        if (first[v] >= 0) ego(env, first[v], env.out + first[v] * size);
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

// Fills op's batch strides from its dims: the output's leading axes (each of size 1 or the
// output's), then exactly `trailing`. False if they do not fit.
template <typename T, typename Buffer>
bool bind(Operand<T>& op, const Buffer& buffer, std::initializer_list<int64_t> trailing, const Frames& f) {
  const auto dims = buffer.dimensions();
  if (dims.size() != f.axes + trailing.size()) return false;
  int64_t stride = 1, i = f.axes;
  for (int64_t d : trailing) {
    if (dims[i++] != d) return false;
    stride *= d;
  }
  for (int64_t a = f.axes - 1; a >= 0; --a) {
    if (dims[a] != 1 && dims[a] != f.shape[a]) return false;
    op.strides[a] = dims[a] == 1 ? 0 : stride;
    stride *= dims[a];
  }
  op.data = buffer.typed_data();
  return true;
}

ffi::Error RgbFramesImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::U8> maps, ffi::Buffer<ffi::S32> map_idx,
                         ffi::Buffer<ffi::U8> colour, ffi::Buffer<ffi::S32> px, ffi::Buffer<ffi::S32> py,
                         ffi::Buffer<ffi::S32> view, ffi::Buffer<ffi::S32> ego_px,
                         ffi::Buffer<ffi::U8> ego_colour, ffi::Buffer<ffi::U8> border,
                         ffi::Buffer<ffi::U8> bar, ffi::ResultBuffer<ffi::U8> out) {
  const auto od = out->dimensions(), md = maps.dimensions(), cd = colour.dimensions(), pd = px.dimensions();
  if (od.size() < 4 || od.size() > 12 || md.size() != od.size() || cd.size() != od.size() || pd.size() + 2 != od.size())
    return ffi::Error::InvalidArgument("rgb_frames: out [..., N, R, R, 3], maps [..., M, R, R, 3], colour [..., V, N, P, 3] "
                                       "and px [..., N, P] must have the same leading axes (at most 8)");
  Frames f;
  f.axes = od.size() - 4;
  f.batch = 1;
  for (int64_t i = 0; i < f.axes; ++i) f.batch *= (f.shape[i] = od[i]);
  f.n = od[f.axes];
  f.r = od[f.axes + 1];
  f.n_maps = md[f.axes];
  f.views = cd[f.axes];
  f.pixels = pd[f.axes + 1];
  if (od[f.axes + 2] != f.r || od[f.axes + 3] != 3 || f.n_maps < 1)
    return ffi::Error::InvalidArgument("rgb_frames: out must be [..., N, R, R, 3] and maps [..., M >= 1, R, R, 3]");
  if (f.r > 1024) return ffi::Error::InvalidArgument("rgb_frames: resolution above 1024");
  const int64_t n = f.n, r = f.r, p = f.pixels;
  const bool ok = bind(f.maps, maps, {f.n_maps, r, r, 3}, f) && bind(f.map_idx, map_idx, {}, f) &&
                  bind(f.colour, colour, {f.views, n, p, 3}, f) && bind(f.px, px, {n, p}, f) &&
                  bind(f.py, py, {n, p}, f) && bind(f.view, view, {n}, f) && bind(f.ego_px, ego_px, {n, p}, f) &&
                  bind(f.ego_colour, ego_colour, {n, p, 3}, f) && bind(f.border, border, {n, 3}, f) &&
                  bind(f.bar, bar, {n, r, 3}, f);
  if (!ok) return ffi::Error::InvalidArgument("rgb_frames: operand shapes do not agree");
  f.out = out->typed_data();

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
                                  .Arg<ffi::Buffer<ffi::U8>>()   // maps
                                  .Arg<ffi::Buffer<ffi::S32>>()  // map_idx
                                  .Arg<ffi::Buffer<ffi::U8>>()   // colour
                                  .Arg<ffi::Buffer<ffi::S32>>()  // px
                                  .Arg<ffi::Buffer<ffi::S32>>()  // py
                                  .Arg<ffi::Buffer<ffi::S32>>()  // view
                                  .Arg<ffi::Buffer<ffi::S32>>()  // ego_px
                                  .Arg<ffi::Buffer<ffi::U8>>()   // ego_colour
                                  .Arg<ffi::Buffer<ffi::U8>>()   // border
                                  .Arg<ffi::Buffer<ffi::U8>>()   // bar
                                  .Ret<ffi::Buffer<ffi::U8>>());
