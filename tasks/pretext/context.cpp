// The context-prediction sampler: see context.h.
#include "tasks/pretext/context.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/util/error.h"

namespace pw::tasks {

namespace {
constexpr int kOffsets[8][2] = {{-1, -1}, {0, -1}, {1, -1}, {-1, 0}, {1, 0}, {-1, 1}, {0, 1}, {1, 1}};

void project(float* p, int64_t pixels) {
  const std::array<float, 9> b = green_magenta_projection();
  for (int64_t i = 0; i < pixels; ++i) {
    const float r = p[i], g = p[pixels + i], bl = p[2 * pixels + i];
    p[i] = b[0] * r + b[1] * g + b[2] * bl;
    p[pixels + i] = b[3] * r + b[4] * g + b[5] * bl;
    p[2 * pixels + i] = b[6] * r + b[7] * g + b[8] * bl;
  }
}

void drop_colors(float* p, int64_t pixels, double noise, Generator& gen) {
  const int keep = (int)gen.randint(0, 3);
  double mean = 0, sq = 0;
  for (int64_t i = 0; i < pixels; ++i) mean += p[keep * pixels + i];
  mean /= pixels;
  for (int64_t i = 0; i < pixels; ++i) sq += (p[keep * pixels + i] - mean) * (p[keep * pixels + i] - mean);
  const float sd = (float)(noise * std::sqrt(sq / pixels));
  for (int c = 0; c < 3; ++c)
    if (c != keep) gen.fill_normal(p + c * pixels, pixels, 0.f, sd);
}

// Box-average down to s x s, nearest back up to n x n: what a low-resolution camera would give.
void pixelate(float* p, int64_t channels, int64_t n, int64_t s) {
  std::vector<float> small(s * s);
  for (int64_t c = 0; c < channels; ++c) {
    float* q = p + c * n * n;
    for (int64_t by = 0; by < s; ++by)
      for (int64_t bx = 0; bx < s; ++bx) {
        const int64_t y0 = by * n / s, y1 = (by + 1) * n / s, x0 = bx * n / s, x1 = (bx + 1) * n / s;
        double acc = 0;
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = x0; x < x1; ++x) acc += q[y * n + x];
        small[by * s + bx] = (float)(acc / ((y1 - y0) * (x1 - x0)));
      }
    for (int64_t y = 0; y < n; ++y)
      for (int64_t x = 0; x < n; ++x) q[y * n + x] = small[(y * s / n) * s + x * s / n];
  }
}
}  // namespace

ColorDefense parse_color_defense(const std::string& s) {
  if (s == "none") return ColorDefense::none;
  if (s == "project") return ColorDefense::project;
  if (s == "drop") return ColorDefense::drop;
  PW_FAIL("context: unknown color defense '", s, "' (none, project or drop)");
}

std::array<float, 9> green_magenta_projection() {
  // B = I - a^T a / (a a^T) with a = [-1, 2, -1], a a^T = 6.
  const float a[3] = {-1, 2, -1};
  std::array<float, 9> b{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) b[i * 3 + j] = (i == j ? 1.f : 0.f) - a[i] * a[j] / 6.f;
  return b;
}

ContextConfig context_config_for(int64_t size) {
  ContextConfig c;
  if (size >= 400) return c;
  // Keep the paper's proportions: patch : gap : jitter = 96 : 48 : 7, extent 3p + 2g + 2j = 0.9 size.
  const double unit = 0.9 * size / (3 * 96 + 2 * 48 + 2 * 7);
  c.patch = std::max<int64_t>(4, std::lround(96 * unit));
  c.gap = std::max<int64_t>(1, std::lround(48 * unit));
  c.jitter = std::max<int64_t>(1, std::lround(7 * unit));
  return c;
}

std::array<int, 2> context_offset(int label) {
  PW_CHECK(label >= 0 && label < 8, "context: label ", label, " is not in 0..7");
  return {kOffsets[label][0], kOffsets[label][1]};
}

int context_label(int dx, int dy) {
  for (int l = 0; l < 8; ++l)
    if (kOffsets[l][0] == dx && kOffsets[l][1] == dy) return l;
  return -1;
}

int64_t context_min_size(const ContextConfig& c) { return 3 * c.patch + 2 * c.gap + 2 * c.jitter; }

ContextPlacement sample_context(const ImageView& img, Generator& gen, const ContextConfig& c, float* out) {
  PW_CHECK(c.patch > 0 && c.gap >= 0 && c.jitter >= 0, "context: patch, gap and jitter must be positive");
  const int64_t need = context_min_size(c);
  PW_CHECK(img.height >= need && img.width >= need, "context: a ", img.height, "x", img.width,
           " image is too small for patch ", c.patch, ", gap ", c.gap, " and jitter ", c.jitter, " (needs ", need, "x",
           need, ")");
  PW_CHECK(c.color == ColorDefense::none || img.channels == 3, "context: color defenses need 3 channels, got ",
           img.channels);
  const int64_t step = c.patch + c.gap, margin = step + c.jitter;
  ContextPlacement pl;
  pl.top[0] = gen.randint(margin, img.height - margin - c.patch + 1);
  pl.left[0] = gen.randint(margin, img.width - margin - c.patch + 1);
  pl.label = (int)gen.randint(0, 8);
  pl.top[1] = pl.top[0] + kOffsets[pl.label][1] * step + gen.randint(-c.jitter, c.jitter + 1);
  pl.left[1] = pl.left[0] + kOffsets[pl.label][0] * step + gen.randint(-c.jitter, c.jitter + 1);
  const int64_t pixels = c.patch * c.patch, per_patch = img.channels * pixels;
  for (int k = 0; k < 2; ++k) {
    float* p = out + k * per_patch;
    copy_window(img, pl.top[k], pl.left[k], c.patch, c.patch, p);
    if (c.pixelate > 0 && gen.uniform() < c.pixelate) {
      // A side between 10 px (about 100 pixels, as in the paper) and the patch itself.
      const int64_t lo = std::min<int64_t>(10, c.patch);
      pixelate(p, img.channels, c.patch, gen.randint(lo, c.patch + 1));
    }
    if (c.color == ColorDefense::project) project(p, pixels);
    if (c.color == ColorDefense::drop) drop_colors(p, pixels, c.drop_noise, gen);
    if (c.normalize) normalize_patch(p, img.channels, pixels);
  }
  return pl;
}

}  // namespace pw::tasks
