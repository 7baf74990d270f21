// The RGB observation's per-pixel work as an XLA FFI custom call (CPU).
//
// XLA's CPU code writes uint8[N, 84, 84, 3] frames slowly: a strided column of 3-byte pixels,
// a per-byte select or a broadcast per ego costs several times a plain memcpy, and the small
// per-agent colour arrays cost it a dispatch each. What needs jax's own arithmetic (pixel
// coordinates: rounding of cos and sin; altitudes and health as integers) stays in JAX
// (observe.rgb_obs); the colours are single float32 multiplies, done here as XLA does them, and
// the bytes are composed here, so the two paths agree bit for bit (tests/gigastep_jax/test_native_render.py).
//
// Colours. Agent t's pixel p has shade s = shade[t, p] (0 where the sprite has no such pixel).
// In the view of a team, its own agents are (0, z255[t] s, 255 s), the others (255 s, z255[t] s,
// 0); the ego is (255 - z255[e]) s, 255 s, (255 - z255[e]) s; float products truncated to uint8.
//
// Per ego e of each environment:
//   1. frame = maps[map_idx] (the map, with the waypoint if any);
//   2. rows x = 0 and x = R - 1 and column y = 0 := the border, white or, if hurt[e], red;
//      column y = R - 1 := the health bar, green for x < filled[e], white after;
//   3. every agent it sees max-blends its pixels (px[t, p], py[t, p]) that fall inside. Shared
//      views (full observability): every ego sees the agents seen[0, t], the ego itself among
//      them in its team's colour. Otherwise ego e sees seen[e, t] for t != e;
//   4. the ego on top: its pixels (ego_px[e, p], py[e, p]) are cleared, then its colour
//      max-blended into them (ego_px is past the image where the ego is not drawn).
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
  const uint8_t* maps;   // [M, R, R, 3]
  int32_t map_idx;
  const int32_t* px;     // [N, P]
  const int32_t* py;     // [N, P]
  const int32_t* ego_px; // [N, P]
  const float* shade;    // [N, P]
  const float* z255;     // [N]
  const int32_t* team;   // [N]
  const bool* seen;      // [N, N]
  const int32_t* filled; // [N]
  const int32_t* hurt;   // [N]
  uint8_t* out;          // [N, R, R, 3]
};

struct Pixel {
  int64_t offset;  // byte offset in the frame
  uint8_t colour[3];
};

struct Frames {
  int64_t batch, axes, n, pixels, r, n_maps;
  bool shared;
  int64_t shape[8];  // the output's leading axes
  Operand<uint8_t> maps;
  Operand<int32_t> map_idx, px, py, ego_px, team, filled, hurt;
  Operand<float> shade, z255;
  Operand<bool> seen;
  uint8_t* out;

  int64_t frame_size() const { return r * r * 3; }
  bool inside(int32_t x, int32_t y) const { return x >= 0 && x < r && y >= 0 && y < r; }
  bool on_edge(int64_t offset) const {
    const int64_t x = offset / (r * 3), y = offset / 3 % r;
    return x == 0 || x == r - 1 || y == 0 || y == r - 1;
  }

  Env at(int64_t b) const {
    int64_t index[8];
    for (int64_t i = axes - 1, rest = b; i >= 0; --i) {
      index[i] = rest % shape[i];
      rest /= shape[i];
    }
    Env env;
    env.maps = maps.at(index, axes);
    env.map_idx = std::clamp<int32_t>(*map_idx.at(index, axes), 0, static_cast<int32_t>(n_maps - 1));  // as XLA's gather
    env.px = px.at(index, axes);
    env.py = py.at(index, axes);
    env.ego_px = ego_px.at(index, axes);
    env.shade = shade.at(index, axes);
    env.z255 = z255.at(index, axes);
    env.team = team.at(index, axes);
    env.seen = seen.at(index, axes);
    env.filled = filled.at(index, axes);
    env.hurt = hurt.at(index, axes);
    env.out = out + b * n * frame_size();
    return env;
  }

  static void blend(uint8_t* pixel, const uint8_t* colour) {
    for (int c = 0; c < 3; ++c) pixel[c] = std::max(pixel[c], colour[c]);
  }

  // The pixels (inside the image, of nonzero shade) of every agent that `viewer` sees, in the
  // view of team `view_team`: viewer < 0 for the shared view (seen[0, t], every t).
  void visible(const Env& env, int64_t viewer, int32_t view_team, std::vector<Pixel>& drawn) const {
    drawn.clear();
    const bool* seen_row = env.seen + (viewer < 0 ? 0 : viewer) * n;
    for (int64_t t = 0; t < n; ++t) {
      if (!seen_row[t] || t == viewer) continue;
      const bool own = env.team[t] == view_team;
      const float red = own ? 0.0f : 255.0f, blue = own ? 255.0f : 0.0f, green = env.z255[t];
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t i = t * pixels + p;
        const float s = env.shade[i];
        if (s == 0.0f || !inside(env.px[i], env.py[i])) continue;
        Pixel pixel{(env.px[i] * r + env.py[i]) * 3,
                    {static_cast<uint8_t>(red * s), static_cast<uint8_t>(green * s), static_cast<uint8_t>(blue * s)}};
        drawn.push_back(pixel);
      }
    }
  }

  // img := src with ego e's own border and bar, four rows (1 kB) at a time: each block is
  // patched while its lines are in L1. (Measured per frame: one memcpy of the whole frame, then
  // the patch, +17 % over a bare copy, since the two edge columns touch every row and the copy
  // had left them out of L1; row by row +15 %, the call per row; blocks of 4 rows +2 %.)
  // `row` holds R pixels of the border colour.
  void copy_with_edges(const Env& env, int64_t e, uint8_t* img, const uint8_t* src, const uint8_t* row) const {
    static const uint8_t green[3] = {0, 255, 0}, white[3] = {255, 255, 255};
    const uint8_t* edge = row;
    const int64_t stride = r * 3, filled = env.filled[e];
    for (int64_t x0 = 0; x0 < r; x0 += 4) {
      const int64_t x1 = std::min(r, x0 + 4);
      std::memcpy(img + x0 * stride, src + x0 * stride, (x1 - x0) * stride);
      for (int64_t x = x0; x < x1; ++x) {
        uint8_t* line = img + x * stride;
        if (x == 0 || x == r - 1)
          std::memcpy(line, row, stride);
        else
          std::memcpy(line, edge, 3);
        std::memcpy(line + stride - 3, x < filled ? green : white, 3);
      }
    }
  }

  // The ego on top: its pixels cleared, then its colour max-blended into them.
  void ego(const Env& env, int64_t e, uint8_t* img) const {
    const int32_t* xs = env.ego_px + e * pixels;
    const int32_t* ys = env.py + e * pixels;
    const float* shade = env.shade + e * pixels;
    const float pale = 255.0f - env.z255[e];
    for (int64_t p = 0; p < pixels; ++p)
      if (inside(xs[p], ys[p])) std::memset(img + (xs[p] * r + ys[p]) * 3, 0, 3);
    for (int64_t p = 0; p < pixels; ++p) {
      if (!inside(xs[p], ys[p])) continue;
      const uint8_t c = static_cast<uint8_t>(pale * shade[p]);
      const uint8_t colour[3] = {c, static_cast<uint8_t>(255.0f * shade[p]), c};
      blend(img + (xs[p] * r + ys[p]) * 3, colour);
    }
  }

  // Every frame of environment b. Shared views: the first ego of each team gets the team's view
  // of the agents drawn over the map; each later ego of that team copies that frame while it is
  // still in cache, overwrites the edges with its own border and bar and blends the agents'
  // pixels there again; each ego is drawn last. Otherwise every frame starts from the map.
  void environment(int64_t b, std::vector<Pixel>& drawn, std::vector<Pixel> (&edges)[2]) const {
    const Env env = at(b);
    const int64_t size = frame_size();
    const uint8_t* map = env.maps + env.map_idx * size;
    int64_t first[2] = {-1, -1};
    uint8_t row[2][3 * 1024];  // white and red border rows; r <= 1024 is checked by the caller
    static const uint8_t border[2][3] = {{255, 255, 255}, {255, 0, 0}};
    bool row_filled[2] = {false, false};
    for (int64_t e = 0; e < n; ++e) {
      uint8_t* img = env.out + e * size;
      const int h = env.hurt[e] != 0;
      if (!row_filled[h]) {
        for (int64_t y = 0; y < r; ++y) std::memcpy(row[h] + y * 3, border[h], 3);
        row_filled[h] = true;
      }
      const int32_t t = env.team[e] != 0;
      if (!shared) {
        copy_with_edges(env, e, img, map, row[h]);
        visible(env, e, env.team[e], drawn);
        for (const Pixel& p : drawn) blend(img + p.offset, p.colour);
        ego(env, e, img);
      } else if (first[t] < 0) {
        first[t] = e;
        copy_with_edges(env, e, img, map, row[h]);
        visible(env, -1, env.team[e], drawn);
        edges[t].clear();
        for (const Pixel& p : drawn) {
          blend(img + p.offset, p.colour);
          if (on_edge(p.offset)) edges[t].push_back(p);
        }  // its ego is drawn once the view has been copied
      } else {
        copy_with_edges(env, e, img, env.out + first[t] * size, row[h]);
        for (const Pixel& p : edges[t]) blend(img + p.offset, p.colour);
        ego(env, e, img);
      }
    }
    for (int64_t t = 0; t < 2; ++t)
      if (first[t] >= 0) ego(env, first[t], env.out + first[t] * size);
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
    std::vector<Pixel> drawn, edges[2];
    for (int64_t b; (b = next.fetch_add(1)) < total;) {
      frames.environment(b, drawn, edges);
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
                         ffi::Buffer<ffi::S32> px, ffi::Buffer<ffi::S32> py, ffi::Buffer<ffi::S32> ego_px,
                         ffi::Buffer<ffi::F32> shade, ffi::Buffer<ffi::F32> z255, ffi::Buffer<ffi::S32> team,
                         ffi::Buffer<ffi::PRED> seen, ffi::Buffer<ffi::S32> filled, ffi::Buffer<ffi::S32> hurt,
                         bool shared, ffi::ResultBuffer<ffi::U8> out) {
  const auto od = out->dimensions(), md = maps.dimensions(), pd = px.dimensions();
  if (od.size() < 4 || od.size() > 12 || md.size() != od.size() || pd.size() + 2 != od.size())
    return ffi::Error::InvalidArgument("rgb_frames: out [..., N, R, R, 3], maps [..., M, R, R, 3] and px [..., N, P] "
                                       "must have the same leading axes (at most 8)");
  Frames f;
  f.axes = od.size() - 4;
  f.batch = 1;
  for (int64_t i = 0; i < f.axes; ++i) f.batch *= (f.shape[i] = od[i]);
  f.n = od[f.axes];
  f.r = od[f.axes + 1];
  f.n_maps = md[f.axes];
  f.pixels = pd[f.axes + 1];
  f.shared = shared;
  if (od[f.axes + 2] != f.r || od[f.axes + 3] != 3 || f.n_maps < 1)
    return ffi::Error::InvalidArgument("rgb_frames: out must be [..., N, R, R, 3] and maps [..., M >= 1, R, R, 3]");
  if (f.r > 1024) return ffi::Error::InvalidArgument("rgb_frames: resolution above 1024");
  const int64_t n = f.n, r = f.r, p = f.pixels;
  const bool ok = bind(f.maps, maps, {f.n_maps, r, r, 3}, f) && bind(f.map_idx, map_idx, {}, f) &&
                  bind(f.px, px, {n, p}, f) && bind(f.py, py, {n, p}, f) && bind(f.ego_px, ego_px, {n, p}, f) &&
                  bind(f.shade, shade, {n, p}, f) && bind(f.z255, z255, {n}, f) && bind(f.team, team, {n}, f) &&
                  bind(f.seen, seen, {n, n}, f) && bind(f.filled, filled, {n}, f) && bind(f.hurt, hurt, {n}, f);
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
                                  .Arg<ffi::Buffer<ffi::U8>>()    // maps
                                  .Arg<ffi::Buffer<ffi::S32>>()   // map_idx
                                  .Arg<ffi::Buffer<ffi::S32>>()   // px
                                  .Arg<ffi::Buffer<ffi::S32>>()   // py
                                  .Arg<ffi::Buffer<ffi::S32>>()   // ego_px
                                  .Arg<ffi::Buffer<ffi::F32>>()   // shade
                                  .Arg<ffi::Buffer<ffi::F32>>()   // z255
                                  .Arg<ffi::Buffer<ffi::S32>>()   // team
                                  .Arg<ffi::Buffer<ffi::PRED>>()  // seen
                                  .Arg<ffi::Buffer<ffi::S32>>()   // filled
                                  .Arg<ffi::Buffer<ffi::S32>>()   // hurt
                                  .Attr<bool>("shared")
                                  .Ret<ffi::Buffer<ffi::U8>>());
