// The per-layer contact sheet: see sheet.h.
#include "tasks/viz/sheet.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "engine/autograd.h"
#include "engine/io/json.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "tasks/features.h"
#include "tasks/html.h"
#include "tasks/pictures.h"
#include "tasks/text.h"
#include "tasks/viz/filters.h"

namespace pw::tasks::viz {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kPad = 2;          // around each picture
constexpr int64_t kGap = 10;         // between the unit's own pictures and its patches
constexpr int64_t kLabelWidth = 52;  // the unit number, its maximum and the dead badge
constexpr int64_t kHeaderHeight = 16;
constexpr int64_t kColumnGap = 17;  // between blocks of units side by side, a rule in its middle
const Rgb kInk{0.1f, 0.1f, 0.1f}, kMuted{0.45f, 0.45f, 0.45f}, kDeadRed{0.78f, 0.16f, 0.16f},
    kDeadRow{1.f, 0.92f, 0.92f}, kWhite{1.f, 1.f, 1.f}, kRule{0.85f, 0.85f, 0.85f};

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Copies `src` (gray or RGB) into the RGB image `dst` with its top-left corner at (y, x). A washed
// picture is pulled towards white, so that a dead unit's row reads as inactive at a glance.
void blit(io::Image& dst, const io::Image& src, int64_t y, int64_t x, bool washed = false) {
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < src.height; ++r)
      for (int64_t q = 0; q < src.width; ++q) {
        if (y + r < 0 || y + r >= dst.height || x + q < 0 || x + q >= dst.width) continue;
        const float v = src.at(std::min(c, src.channels - 1), r, q);
        dst.at(c, y + r, x + q) = washed ? 0.55f + 0.45f * v : v;
      }
}

// One unit's kernel as a picture, gray at zero and stretched to the filter's own largest |w|, the
// mapping of filter_grid's default (per-filter) view.
io::Image filter_image(const Tensor& weight_cpu, int64_t unit) {
  const int64_t I = weight_cpu.size(1), kh = weight_cpu.size(2), kw = weight_cpu.size(3);
  const std::vector<float> w = weight_cpu.select(0, unit).contiguous().to_vector_f32();
  float m = 0;
  for (float v : w) m = std::max(m, std::fabs(v));
  io::Image img = io::Image::filled(I, kh, kw, 0.5f);
  for (size_t i = 0; i < w.size(); ++i) img.pixels[i] = m > 0 ? 0.5f + w[i] / (2 * m) : 0.5f;
  return img;
}

// One unit's block: label, [filter], [optimized image], patches; x positions from the block's left.
struct Block {
  int64_t filter_scale = 1, patch_scale = 1;
  int64_t x_filter = 0, x_image = 0, x_patches = 0, width = 0, row_h = 0;
};

io::Image draw_layer(const SheetLayer& L, const Tensor& weight_cpu, const AscentResult* ascent, const Tensor& images,
                     const InputSpace& space, const SheetOptions& o) {
  Block b;
  // The optimized image is cut at the centre unit's field, like the patches, so the two compare.
  b.patch_scale = scale_to_cell(std::max(L.field.size[0], L.field.size[1]), o.cell);
  const int64_t patch_w = L.field.size[1] * b.patch_scale, patch_h = L.field.size[0] * b.patch_scale;
  int64_t filter_w = 0, filter_h = 0;
  if (L.has_filters) {
    b.filter_scale = scale_to_cell(std::max(weight_cpu.size(2), weight_cpu.size(3)), o.cell);
    filter_w = weight_cpu.size(3) * b.filter_scale;
    filter_h = weight_cpu.size(2) * b.filter_scale;
  }
  b.row_h = std::max({filter_h, patch_h, text_height(2) + text_height(1) + 18}) + 2 * kPad;
  b.x_filter = kLabelWidth + kPad;
  b.x_image = b.x_filter + (L.has_filters ? filter_w + 2 * kPad : 0);
  b.x_patches = b.x_image + (ascent ? patch_w + 2 * kPad : 0) + kGap;
  const std::string patches_title = "top " + std::to_string(o.k) + " patches";
  // Wide enough for the column titles even when the pictures are small.
  b.width = std::max(b.x_patches + o.k * (patch_w + 2 * kPad), b.x_patches + text_width(patches_title) + kPad);

  // As many blocks side by side as fit the page width, so that the browser need not shrink the text.
  const int64_t fit = std::max<int64_t>(1, (o.max_width + kColumnGap) / (b.width + kColumnGap));
  const int64_t cols = std::min({o.columns, fit, (int64_t)L.units.size()});
  const int64_t rows = ((int64_t)L.units.size() + cols - 1) / cols;
  const int64_t stride = b.width + kColumnGap;
  io::Image out = io::Image::filled(3, kHeaderHeight + rows * b.row_h, cols * stride - kColumnGap, 1.f);
  // Titles that do not fit above their column are shortened rather than run into the next.
  auto title = [&](int64_t x, int64_t w, const std::string& full, const std::string& brief) {
    draw_text(out, x, 4, text_width(full) <= w + 2 * kPad ? full : brief, kMuted);
  };
  for (int64_t col = 0; col < cols; ++col) {
    const int64_t x0 = col * stride;
    draw_text(out, x0 + kPad, 4, "unit", kMuted);
    if (L.has_filters) title(x0 + b.x_filter, filter_w, "filter", "w");
    if (ascent) title(x0 + b.x_image, patch_w, "optimized", "opt");
    draw_text(out, x0 + b.x_patches, 4, patches_title, kMuted);
    if (col > 0) fill_rect(out, x0 - kColumnGap / 2, 0, 1, out.height, kRule);
  }
  for (size_t i = 0; i < L.units.size(); ++i) {
    const SheetUnit& u = L.units[i];
    const int64_t x0 = (int64_t)i % cols * stride, top = kHeaderHeight + (int64_t)i / cols * b.row_h;
    const int64_t y = top + kPad;
    if (u.dead) fill_rect(out, x0, top, b.width, b.row_h, kDeadRow);
    fill_rect(out, x0, top, b.width, 1, kRule);
    draw_text(out, x0 + kPad, y + 2, std::to_string(u.unit), u.dead ? kDeadRed : kInk, 2);
    if (u.dead) {
      fill_rect(out, x0 + kPad, y + text_height(2) + 6, text_width("DEAD") + 6, text_height() + 4, kDeadRed);
      draw_text(out, x0 + kPad + 3, y + text_height(2) + 8, "DEAD", kWhite);
    } else {
      const std::string mx = "max " + fixed(u.max_activation, u.max_activation < 10 ? 2 : 1);
      draw_text(out, x0 + kPad, y + text_height(2) + 8, mx, kMuted);
    }
    if (L.has_filters) blit(out, upscale(filter_image(weight_cpu, u.unit), b.filter_scale), y, x0 + b.x_filter, u.dead);
    if (ascent) {
      const io::Image opt =
          crop_field(ascent->images.select(0, (int64_t)i), L.field, L.neuron_y, L.neuron_x, space.mean, space.std);
      blit(out, upscale(opt, b.patch_scale), y, x0 + b.x_image, u.dead);
    }
    if (u.dead) {
      draw_text(out, x0 + b.x_patches, y + b.row_h / 2 - 8, "never active on the scanned images", kDeadRed);
      continue;
    }
    for (size_t j = 0; j < u.patches.size(); ++j) {
      const TopPatch& p = u.patches[j];
      const io::Image crop = crop_field(images.select(0, p.image), L.field, p.y, p.x, space.mean, space.std);
      blit(out, upscale(crop, b.patch_scale), y, x0 + b.x_patches + (int64_t)j * (patch_w + 2 * kPad));
    }
  }
  return out;
}

// The convolutions named in `names` (all of them when empty), as paths, in the network's order.
std::vector<std::string> chosen_convs(const nn::Module& model, const std::vector<std::string>& names) {
  std::vector<std::string> all;
  for (const auto& [path, m] : model_layers(model))
    if (dynamic_cast<const nn::Conv2d*>(m.get())) all.push_back(path);
  PW_CHECK(!all.empty(), "sheet: ", model.type_name(), " has no convolutions to show");
  if (names.empty()) return all;
  std::vector<std::string> wanted;
  for (const std::string& name : names) {
    std::string path;
    find_conv(model, name, &path);  // an error listing the convolutions when unknown
    wanted.push_back(path);
  }
  std::vector<std::string> out;
  for (const std::string& p : all)
    if (std::find(wanted.begin(), wanted.end(), p) != wanted.end()) out.push_back(p);
  return out;
}

// Where a convolution's units are read for patches and death: the ReLU after it (its batch norm
// between), the value the next layer sees; the convolution itself when no ReLU follows.
std::string read_point(const nn::Module& model, const std::string& conv) {
  for (const ProbePoint& p : probe_points(model))
    if (p.name == conv) return p.end;
  return conv;
}

}  // namespace

AscentOptions sheet_ascent(int64_t image_side) {
  AscentOptions o = yosinski_set(3);
  o.iterations = 100;
  o.step = 0.2;
  o.blur_sigma = std::clamp((double)image_side / 56.0, 0.5, 1.0);
  o.jitter = 0;
  return o;
}

int64_t scale_to_cell(int64_t side, int64_t cell) {
  side = std::max<int64_t>(1, side);
  int64_t scale = std::max<int64_t>(1, (int64_t)std::lround((double)cell / (double)side));
  // Rounding may leave a picture well below the cell (36 px for 48): a little too large reads better.
  if ((double)(side * scale) < 0.8 * (double)cell) ++scale;
  return scale;
}

Sheet make_sheet(nn::Module& model, const Tensor& images, const InputSpace& space, const SheetOptions& o) {
  PW_CHECK(o.units_per_layer > 0, "sheet: units per layer must be positive, got ", o.units_per_layer);
  PW_CHECK(o.k > 0, "sheet: the number of patches per unit must be positive, got ", o.k);
  PW_CHECK(o.cell >= 8, "sheet: the cell size must be at least 8 pixels, got ", o.cell);
  PW_CHECK(o.columns >= 1, "sheet: the number of unit columns must be positive, got ", o.columns);
  PW_CHECK(o.max_width > 0, "sheet: the page width must be positive, got ", o.max_width);
  PW_CHECK(images.defined() && images.dim() == 4 && images.size(0) > 0,
           "sheet: images must be [N, C, H, W] with N > 0, got ",
           images.defined() ? shape_str(images.shape()) : std::string("an undefined tensor"));
  PW_CHECK(images.size(1) == space.channels && images.size(2) == space.height && images.size(3) == space.width,
           "sheet: images are ", shape_str(images.shape()), " but the input space is ", space.channels, "x",
           space.height, "x", space.width);
  if (o.ascent.iterations > 0)
    PW_CHECK(o.ascent.step > 0, "sheet: the ascent step must be positive, got ", o.ascent.step);
  // Every layer is looked up before any is scanned, so that a bad name fails at once.
  const std::vector<std::string> convs = chosen_convs(model, o.layers);

  Sheet sheet;
  sheet.images = images.size(0);
  sheet.options = o;
  for (const std::string& path : convs) {
    const nn::Conv2d& conv = find_conv(model, path);
    SheetLayer L;
    L.conv = path;
    L.read = read_point(model, path);
    L.channels = conv.out_channels;
    std::vector<int64_t> all(L.channels);
    for (int64_t u = 0; u < L.channels; ++u) all[u] = u;
    // Every channel is scanned so that the layer's dead count is complete; only the first few are drawn.
    const TopPatches tp = top_patches(model, L.read, all, images, o.k, o.batch_size);
    L.field = tp.field;
    {
      const Shape s = layer_output_shape(model, L.read, {images.size(1), images.size(2), images.size(3)});
      L.map_height = s[2], L.map_width = s[3];
      L.neuron_y = s[2] / 2, L.neuron_x = s[3] / 2;
    }
    const int64_t shown = std::min(o.units_per_layer, L.channels);
    for (int64_t u = 0; u < L.channels; ++u) {
      const std::vector<TopPatch>& best = tp.best[u];
      const float mx = best.empty() ? 0.f : best[0].activation;
      const bool dead = !(mx > 0);
      if (dead) L.dead_units.push_back(u);
      if (u >= shown) continue;
      SheetUnit su;
      su.unit = u;
      su.max_activation = mx;
      su.dead = dead;
      // A dead unit's "best" images all tie at zero: they say nothing about it.
      if (!dead) su.patches = best;
      L.units.push_back(su);
    }
    const Tensor weight = conv.weight.to(Device::cpu()).to(DType::f32).contiguous();
    L.has_filters = weight.size(1) == 1 || weight.size(1) == 3;
    AscentResult r;
    if (o.ascent.iterations > 0) {
      UnitSpec spec;
      spec.layer = path;
      spec.neuron = true;
      spec.y = L.neuron_y;
      spec.x = L.neuron_x;
      for (const SheetUnit& su : L.units) spec.units.push_back(su.unit);
      // maximize_units normalizes the step over the pixels that have a gradient (the unit's field),
      // so the same step serves a 5-px conv1 field and a whole-image conv5 one.
      AscentOptions a = o.ascent;
      L.step = a.step;
      r = maximize_units(model, space, spec, a);
      for (size_t i = 0; i < L.units.size(); ++i) {
        L.units[i].objective_start = r.start[i];
        L.units[i].objective_end = r.end[i];
      }
    }
    L.picture = draw_layer(L, weight, o.ascent.iterations > 0 ? &r : nullptr, images, space, o);
    sheet.layers.push_back(std::move(L));
  }
  return sheet;
}

io::Json patch_json(const TopPatch& p) {
  return io::Json::object({{"image", p.image},
                           {"y", p.y},
                           {"x", p.x},
                           {"activation", p.activation},
                           {"box", io::Json::array({p.box.y0, p.box.x0, p.box.y1, p.box.x1})}});
}

io::Json field_json(const ReceptiveField& f) {
  return io::Json::object({{"size", io::Json::array({f.size[0], f.size[1]})},
                           {"jump", io::Json::array({f.jump[0], f.jump[1]})},
                           {"offset", io::Json::array({f.offset[0], f.offset[1]})}});
}

namespace {

std::string png_name(const SheetLayer& L) {
  std::string s = L.conv;
  std::replace(s.begin(), s.end(), '.', '_');
  return "sheet-" + s + ".png";
}

std::string int_list(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

std::string ascent_text(const AscentOptions& a) {
  if (a.iterations <= 0) return "none";
  std::ostringstream o;
  o << a.iterations << " steps of " << a.step << " std from the mean image";
  if (a.jitter > 0) o << ", jitter " << a.jitter << " px";
  if (a.blur_sigma > 0 && a.blur_every > 0) o << ", blur " << a.blur_sigma << " px every " << a.blur_every << " steps";
  if (a.decay > 0) o << ", decay " << a.decay;
  return o.str();
}

std::string sheet_html(const Sheet& sheet, const SheetHeader& h) {
  const SheetOptions& o = sheet.options;
  std::ostringstream s;
  s << "<!doctype html>\n<html><head><meta charset=\"utf-8\">\n<title>patchwork sheet: " << html_escape(h.model)
    << "</title>\n<style>\n"
       "body { font-family: sans-serif; margin: 20px; color: #222; background: #fff; max-width: 1400px; }\n"
       "h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 18px; margin: 28px 0 4px; }\n"
       "h2 small { font-weight: normal; color: #666; font-size: 13px; }\n"
       ".meta { color: #444; font-size: 13px; line-height: 1.5; } code { background: #f3f3f3; padding: 0 3px; }\n"
       ".dead { color: #fff; background: #c62828; border-radius: 3px; padding: 0 5px; font-size: 12px; }\n"
       ".note { font-size: 13px; color: #444; margin: 2px 0 8px; }\n"
       "img.strip { image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }\n"
       "table { border-collapse: collapse; font-size: 12px; margin-top: 6px; }\n"
       "td, th { padding: 1px 10px; text-align: right; } tr.deadrow td { color: #c62828; }\n"
       "nav a { margin-right: 10px; }\n"
       "</style></head>\n<body>\n";
  s << "<h1>What the convolutions of " << html_escape(h.model) << " respond to</h1>\n<div class=\"meta\">"
    << "checkpoint <code>" << html_escape(h.checkpoint.empty() ? "(random initialization)" : h.checkpoint)
    << "</code> &middot; data <code>" << html_escape(h.data) << "</code>, " << sheet.images
    << " images scanned &middot; seed " << h.seed << "<br>\n"
    << "Each row is one unit: its number and largest activation over the scanned images (after the ReLU), "
    << "for a first layer its filter (gray is zero), the image that maximizes the channel's unit at the centre "
    << "of the map (optimized: " << html_escape(ascent_text(o.ascent)) << "), and the " << o.k
    << " images that excite it most at their strongest position; both are cut at the unit's receptive field "
    << "(gray: padding). "
    << "<span class=\"dead\">DEAD</span> units are never active on the scanned data.</div>\n<nav>";
  for (const SheetLayer& L : sheet.layers)
    s << "<a href=\"#" << html_escape(L.conv) << "\">" << html_escape(short_name(L.conv)) << "</a>";
  s << "</nav>\n";
  for (const SheetLayer& L : sheet.layers) {
    s << "<section id=\"" << html_escape(L.conv) << "\">\n<h2>" << html_escape(short_name(L.conv)) << " <small>"
      << html_escape(L.conv) << " (read at " << html_escape(L.read) << ") &middot; " << L.channels
      << " units &middot; map " << L.map_height << "&times;" << L.map_width << " &middot; receptive field "
      << L.field.size[0] << "&times;" << L.field.size[1] << " px, jump " << L.field.jump[0]
      << "</small></h2>\n<p class=\"note\">";
    if (L.dead_units.empty()) {
      s << "No dead units: every one of the " << L.channels << " fires on some image.";
    } else {
      s << "<span class=\"dead\">" << L.dead_units.size() << " dead</span> of " << L.channels
        << " units never fire on these images: " << int_list(L.dead_units) << ".";
    }
    if ((int64_t)L.units.size() < L.channels) s << " Showing units 0&ndash;" << L.units.size() - 1 << ".";
    s << "</p>\n<img class=\"strip\" src=\"" << png_name(L) << "\" width=\"" << L.picture.width << "\" alt=\""
      << html_escape(short_name(L.conv)) << ": optimized images and top patches per unit\">\n"
      << "<details><summary>numbers</summary><table><tr><th>unit</th><th>max activation</th><th>optimized: before"
      << "</th><th>after</th><th>best images</th></tr>\n";
    for (const SheetUnit& u : L.units) {
      std::vector<int64_t> best;
      for (const TopPatch& p : u.patches) best.push_back(p.image);
      s << "<tr" << (u.dead ? " class=\"deadrow\"" : "") << "><td>" << u.unit << (u.dead ? " dead" : "") << "</td><td>"
        << num(u.max_activation) << "</td><td>" << num(u.objective_start) << "</td><td>" << num(u.objective_end)
        << "</td><td>" << int_list(best) << "</td></tr>\n";
    }
    s << "</table></details>\n</section>\n";
  }
  s << "</body></html>\n";
  return s.str();
}

io::Json unit_json(const SheetUnit& u) {
  io::Json patches = io::Json::array();
  for (const TopPatch& p : u.patches) patches.push(patch_json(p));
  return io::Json::object({{"unit", u.unit},
                           {"dead", u.dead},
                           {"max_activation", u.max_activation},
                           {"objective_start", u.objective_start},
                           {"objective_end", u.objective_end},
                           {"patches", patches}});
}

io::Json layer_json(const SheetLayer& L) {
  io::Json units = io::Json::array();
  for (const SheetUnit& u : L.units) units.push(unit_json(u));
  return io::Json::object({{"conv", L.conv},
                           {"read", L.read},
                           {"png", png_name(L)},
                           {"channels", L.channels},
                           {"map", io::Json::array({L.map_height, L.map_width})},
                           {"neuron", io::Json::array({L.neuron_y, L.neuron_x})},
                           {"step", L.step},
                           {"receptive_field", field_json(L.field)},
                           {"dead_units", L.dead_units},
                           {"units", units}});
}

io::Json sheet_json(const Sheet& sheet, const SheetHeader& h) {
  const SheetOptions& o = sheet.options;
  const AscentOptions& a = o.ascent;
  io::Json js = io::Json::object({{"method", "sheet"},
                                  {"model", h.model},
                                  {"checkpoint", h.checkpoint},
                                  {"data", h.data},
                                  {"seed", h.seed},
                                  {"images", sheet.images},
                                  {"k", o.k},
                                  {"units_per_layer", o.units_per_layer},
                                  {"ascent", io::Json::object({{"iterations", a.iterations},
                                                               {"step", a.step},
                                                               {"jitter", a.jitter},
                                                               {"blur", a.blur_sigma},
                                                               {"blur_every", a.blur_every},
                                                               {"decay", a.decay}})}});
  if (!h.flags.is_null()) js.set("flags", h.flags);
  io::Json layers = io::Json::array();
  for (const SheetLayer& L : sheet.layers) layers.push(layer_json(L));
  return js.set("layers", layers);
}

}  // namespace

std::vector<std::string> write_sheet(const std::string& dir, const Sheet& sheet, const SheetHeader& header) {
  PW_CHECK(!sheet.layers.empty(), "sheet: nothing to write (no layers)");
  fs::create_directories(dir);
  std::vector<std::string> written;
  for (const SheetLayer& L : sheet.layers) {
    const std::string path = (fs::path(dir) / png_name(L)).string();
    io::write_png(path, L.picture);
    written.push_back(path);
  }
  const std::string html = (fs::path(dir) / "sheet.html").string(), json = (fs::path(dir) / "sheet.json").string();
  write_file_atomic(json, sheet_json(sheet, header).dump(io::JsonStyle::indented) + "\n");
  write_file_atomic(html, sheet_html(sheet, header));
  written.push_back(html);
  written.push_back(json);
  return written;
}

}  // namespace pw::tasks::viz
