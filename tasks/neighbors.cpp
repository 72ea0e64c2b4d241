// Cosine nearest neighbours: see neighbors.h.
#include "tasks/neighbors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <filesystem>

#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "tasks/features.h"
#include "tasks/pictures.h"
#include "tasks/probe.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {
// The random stream of patch positions and query picks (with the seed: the same patches in
// `patchwork neighbors` and the study).
constexpr uint64_t kPatchQueryStream = 0x9a7c;

Tensor l2_normalized(const Tensor& f) {
  Tensor out = f.contiguous().clone();
  const int64_t n = out.size(0), d = out.size(1);
  float* p = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += (double)p[i * d + j] * p[i * d + j];
    const float inv = (float)(1.0 / std::max(std::sqrt(s), 1e-12));
    for (int64_t j = 0; j < d; ++j) p[i * d + j] *= inv;
  }
  return out;
}
}  // namespace

Neighbors nearest_neighbors(const Tensor& queries, const Tensor& base, int64_t k, const std::vector<int64_t>& exclude) {
  PW_CHECK(queries.dim() == 2 && base.dim() == 2 && queries.size(1) == base.size(1), "neighbors: features must be ",
           "[Q, D] and [N, D] with the same D, got ", shape_str(queries.shape()), " and ", shape_str(base.shape()));
  PW_CHECK(k >= 1 && k <= base.size(0), "neighbors: k = ", k, " must be in 1..", base.size(0));
  NoGradGuard ng;
  Tensor sim = matmul(l2_normalized(queries), l2_normalized(base).t()).contiguous();
  const int64_t q = sim.size(0), n = sim.size(1);
  const float* s = sim.data<float>();
  Neighbors r;
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < q; ++i) {
    std::iota(order.begin(), order.end(), 0);
    const int64_t skip = i < (int64_t)exclude.size() ? exclude[i] : -1;
    if (skip >= 0 && skip < n) order.erase(order.begin() + skip);
    const int64_t kk = std::min<int64_t>(k, (int64_t)order.size());
    std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int64_t a, int64_t b) {
      return s[i * n + a] > s[i * n + b] || (s[i * n + a] == s[i * n + b] && a < b);
    });
    r.index.emplace_back(order.begin(), order.begin() + kk);
    std::vector<double> sims;
    for (int64_t j = 0; j < kk; ++j) sims.push_back(s[i * n + order[j]]);
    r.similarity.push_back(sims);
    order.resize(n);
  }
  return r;
}

Tensor random_patches(const Tensor& images, int64_t per, int64_t size, Generator& gen) {
  PW_CHECK(images.dim() == 4 && per >= 1, "patches: images [N, C, H, W] and a positive count are needed");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  PW_CHECK(size >= 1 && size <= h && size <= w, "patches: size ", size, " does not fit the ", h, "x", w, " images");
  Tensor out = Tensor::empty({n * per, c, size, size});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < per; ++j) {
      const int64_t top = gen.randint(0, h - size + 1), left = gen.randint(0, w - size + 1);
      out.select(0, i * per + j).copy_(images.select(0, i).slice(1, top, top + size).slice(2, left, left + size));
    }
  return out;
}

PatchQueries random_patch_queries(const Tensor& images, int64_t per, int64_t size, int64_t count, uint64_t seed) {
  PW_CHECK(count >= 1, "patches: the number of queries must be positive, got ", count);
  Generator gen(seed, kPatchQueryStream);
  PatchQueries q;
  q.base = random_patches(images, per, size, gen);
  q.picked = gen.permutation(q.base.size(0));
  q.picked.resize(std::min<int64_t>(count, q.base.size(0)));
  q.queries = Tensor::empty({(int64_t)q.picked.size(), q.base.size(1), size, size});
  for (size_t i = 0; i < q.picked.size(); ++i) q.queries.select(0, (int64_t)i).copy_(q.base.select(0, q.picked[i]));
  return q;
}

io::Image neighbor_grid(const Tensor& queries, const Tensor& base, const std::vector<std::vector<int64_t>>& index,
                        const std::vector<float>& mean, const std::vector<float>& std, int64_t scale,
                        const std::vector<int32_t>& query_labels, const std::vector<int32_t>& base_labels) {
  PW_CHECK((int64_t)index.size() <= queries.size(0), "neighbours: ", index.size(), " rows for ", queries.size(0),
           " queries");
  const Rgb none{-1, 0, 0}, blue{0.2f, 0.4f, 1.f}, green{0.2f, 0.8f, 0.2f}, red{0.9f, 0.2f, 0.2f};
  const bool labeled = !query_labels.empty() && !base_labels.empty();
  std::vector<io::Image> cells;
  std::vector<Rgb> frames;
  size_t cols = 1;
  for (size_t q = 0; q < index.size(); ++q) {
    cells.push_back(upscale(to_image(queries.select(0, (int64_t)q), mean, std), scale));
    frames.push_back(blue);
    for (int64_t j : index[q]) {
      cells.push_back(upscale(to_image(base.select(0, j), mean, std), scale));
      frames.push_back(!labeled ? none : base_labels[j] == query_labels[q] ? green : red);
    }
    cols = std::max(cols, index[q].size() + 1);
  }
  PW_CHECK(!cells.empty(), "neighbours: nothing to draw");
  return grid(cells, (int64_t)cols, 3, 1.f, frames);
}

// ---------------------------------------------------------------- patchwork neighbors

namespace {

struct RetrievalSet {
  Tensor base, queries;
  std::vector<int32_t> base_labels, query_labels;  // empty without labels (and for patches)
  std::vector<int64_t> exclude;                    // per query: its own row in the base, or none
};

RetrievalSet retrieval_set(const Dataset& data, const NeighborsConfig& c) {
  RetrievalSet s;
  if (c.patch > 0) {
    PatchQueries p = random_patch_queries(data.train_images, c.patches_per_image, c.patch, c.queries, c.seed);
    s.base = p.base;
    s.queries = p.queries;
    s.exclude = p.picked;
    return s;
  }
  s.base = data.train_images;
  const bool own = !data.test_images.defined();  // no test split: queries from the base itself
  const Tensor& from = own ? data.train_images : data.test_images;
  s.queries = from.slice(0, 0, std::min(c.queries, from.size(0))).contiguous();
  if (data.labeled()) {
    s.base_labels = data.train_labels.to_vector_i32();
    s.query_labels = (own ? data.train_labels : data.test_labels).to_vector_i32();
  }
  if (own)
    for (int64_t q = 0; q < s.queries.size(0); ++q) s.exclude.push_back(q);
  return s;
}

double label_agreement(const Neighbors& nb, const RetrievalSet& s) {
  if (s.query_labels.empty()) return -1;
  int64_t agree = 0, total = 0;
  for (size_t q = 0; q < nb.index.size(); ++q)
    for (int64_t j : nb.index[q]) agree += s.base_labels[j] == s.query_labels[q], ++total;
  return total ? (double)agree / total : -1;
}

io::Json neighbors_json(const NeighborsResult& r, const NeighborsConfig& c) {
  io::Json queries = io::Json::array();
  for (size_t q = 0; q < r.neighbors.index.size(); ++q) {
    io::Json list = io::Json::array();
    for (size_t j = 0; j < r.neighbors.index[q].size(); ++j)
      list.push(io::Json::array({r.neighbors.index[q][j], r.neighbors.similarity[q][j]}));
    queries.push(io::Json::object({{"neighbors", list}}));
  }
  io::Json js = io::Json::object({{"model", r.model},
                                  {"checkpoint", c.source.checkpoint},
                                  {"random", c.source.checkpoint.empty()},
                                  {"layer", r.layer},
                                  {"data", r.data},
                                  {"patches", c.patch},
                                  {"k", c.k},
                                  {"seed", (int64_t)c.seed},
                                  {"queries", queries}});
  if (r.label_agreement >= 0) js.set("label_agreement", r.label_agreement);
  return js;
}

}  // namespace

NeighborsResult run_neighbors(const NeighborsConfig& c) {
  PW_CHECK(c.queries >= 1 && c.k >= 1, "neighbors: --queries and --k must be positive, got ", c.queries, " and ", c.k);
  PW_CHECK(c.patch >= 0 && c.patches_per_image >= 1,
           "neighbors: --patches must be >= 0 and "
           "--patches-per-image positive, got ",
           c.patch, " and ", c.patches_per_image);
  const RunRecord record = read_run_record(c.source.checkpoint);
  const DataChoice choice = choose_data(record, c.data, "neighbors");
  const Dataset data = load_dataset(choice.spec, choice.options);
  LoadedModel loaded = load_model(c.source, data.train_images.size(1), "neighbors");
  loaded.model->to(c.device);
  const ProbePoint point = find_probe_point(*loaded.model, c.layer);
  const RetrievalSet s = retrieval_set(data, c);
  const Tensor fb = extract_features(*loaded.model, {point}, s.base, c.max_dims)[0];
  const Tensor fq = extract_features(*loaded.model, {point}, s.queries, c.max_dims)[0];

  NeighborsResult r;
  r.model = loaded.name;
  r.data = choice.spec;
  r.layer = point.name;
  r.neighbors = nearest_neighbors(fq, fb, c.k, s.exclude);
  r.label_agreement = label_agreement(r.neighbors, s);
  const int64_t side = s.base.size(2);
  const int64_t scale = c.scale > 0 ? c.scale : std::max<int64_t>(1, 64 / side);
  fs::create_directories(c.out_dir);
  r.picture = (fs::path(c.out_dir) / "neighbors.png").string();
  r.json = (fs::path(c.out_dir) / "neighbors.json").string();
  io::write_png(r.picture, neighbor_grid(s.queries, s.base, r.neighbors.index, data.mean, data.std, scale,
                                         s.query_labels, s.base_labels));
  write_file_atomic(r.json, neighbors_json(r, c).dump(io::JsonStyle::indented) + "\n");
  return r;
}

}  // namespace pw::tasks
