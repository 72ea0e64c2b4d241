// The claims of the seed papers that the study tests (report.h: evaluate_claims), one function
// per claim, each returning its verdict and the numbers behind it.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "tasks/features.h"
#include "tasks/report_parts.h"

namespace pw::tasks {

namespace report {

double probe_at(const TrunkResult& t, const std::string& layer) {
  for (const ProbeResult& p : t.probes)
    if (short_name(p.layer) == layer) return p.test_accuracy;
  return NAN;
}

bool is_pretext(const TrunkResult& t) {
  return t.name == "rotation" || t.name == "jigsaw" || t.name == "context" || t.name == "colorization";
}

}  // namespace report

namespace {

using report::fmt;
using report::is_pretext;
using report::probe_at;

const TrunkResult* find(const StudyResult& r, const std::string& name) {
  for (const TrunkResult& t : r.trunks)
    if (t.name == name) return &t;
  return nullptr;
}

// A difference of two accuracies near p on n test images has a standard error of about
// sqrt(2 p (1 - p) / n); a margin counts when it is above two of them.
double two_standard_errors(double a, double b, double n) {
  const double p = std::clamp((a + b) / 2, 0.01, 0.99);
  return 2 * std::sqrt(2 * p * (1 - p) / n);
}
bool significant(double a, double b, double n) { return a - b > two_standard_errors(a, b, n); }

// The best probe accuracy over a trunk's conv layers.
double best_conv_probe(const TrunkResult& t) {
  double best = 0;
  for (const ProbeResult& p : t.probes)
    if (short_name(p.layer).rfind("conv", 0) == 0) best = std::max(best, p.test_accuracy);
  return best;
}

Claim beats_random(const StudyResult& r, const TrunkResult& random, double n) {
  Claim c;
  c.text =
      "Self-supervised features beat random features in a linear probe at some convolutional layer "
      "(by more than two standard errors)";
  std::ostringstream ev;
  for (const TrunkResult& t : r.trunks) {
    if (!is_pretext(t)) continue;
    double best = -1, a_best = 0, b_best = 0;
    std::string where;
    // Only conv1..conv5: the fully connected layers of the tiled networks (tower.fc6) are not
    // those of the random alexnet-small, so they are not compared here.
    for (const std::string& l : r.layers) {
      if (l.rfind("conv", 0) != 0) continue;
      const double a = probe_at(t, l), b = probe_at(random, l);
      if (std::isfinite(a) && std::isfinite(b) && a - b > best) best = a - b, where = l, a_best = a, b_best = b;
    }
    const bool sig = best > -1 && significant(a_best, b_best, n);
    c.holds |= sig;
    ev << t.name << ": best margin " << (best >= 0 ? "+" : "") << fmt(100 * best, 1) << " points at " << where
       << " (two standard errors " << fmt(100 * two_standard_errors(a_best, b_best, n), 1) << ": "
       << (sig ? "significant" : "within noise") << "); ";
  }
  // Why not, when it does not hold: the room the probe leaves, the supervised network's own
  // margin over random at their best conv layers.
  const TrunkResult* sup = find(r, "supervised");
  if (!c.holds && sup) {
    const double room = best_conv_probe(*sup) - best_conv_probe(random);
    ev << "the supervised network's best conv probe is itself " << (room >= 0 ? "+" : "") << fmt(100 * room, 1)
       << " points from random's best (" << fmt(best_conv_probe(*sup), 3) << " against "
       << fmt(best_conv_probe(random), 3) << "): at this scale a linear probe on random conv features is "
       << "already near the ceiling; ";
  }
  c.evidence = ev.str();
  return c;
}

Claim peaks_before_last_layer(const StudyResult& r, const TrunkResult& random, double n) {
  Claim c;
  c.text =
      "Probe accuracy peaks before the last layer of every pretext network and falls towards it faster than "
      "in the random network (late layers specialize to the pretext task)";
  std::ostringstream ev;
  bool all = true;
  int count = 0;
  for (const TrunkResult& t : r.trunks) {
    if (!is_pretext(t) || t.probes.empty()) continue;
    size_t best = 0;
    for (size_t i = 0; i < t.probes.size(); ++i)
      if (t.probes[i].test_accuracy > t.probes[best].test_accuracy) best = i;
    const std::string peak = short_name(t.probes[best].layer), last = short_name(t.probes.back().layer);
    const double drop = t.probes[best].test_accuracy - t.probes.back().test_accuracy;
    const double random_drop = probe_at(random, peak) - probe_at(random, last);
    // Four accuracies enter the difference of two drops: its standard error is at most
    // sqrt(4 * 0.25 / n); the margin must exceed two of them.
    const bool ok =
        best + 1 < t.probes.size() && std::isfinite(random_drop) && drop - random_drop > 2 * std::sqrt(1.0 / n);
    all &= ok;
    ++count;
    ev << t.name << ": peak " << fmt(t.probes[best].test_accuracy, 3) << " at " << peak << ", " << last << " "
       << fmt(t.probes.back().test_accuracy, 3) << " (drop " << fmt(100 * drop, 1) << " points; random over the same "
       << "layers " << fmt(100 * random_drop, 1) << ")" << (ok ? "" : " -- not shown") << "; ";
  }
  c.holds = count > 0 && all;
  c.evidence = ev.str();
  return c;
}

Claim filters_differ(const StudyResult& r) {
  Claim c;
  c.text = "Self-supervised conv1 filters differ from the supervised ones: no more alike than random filters are";
  std::ostringstream ev;
  double floor = NAN, worst = 0;
  for (const auto& [name, sim] : r.filter_similarity) {
    if (name == "random")
      floor = sim;
    else
      worst = std::max(worst, sim);
    ev << name << " " << fmt(sim, 3) << "; ";
  }
  c.holds = std::isfinite(floor) && worst < floor + 0.05;
  c.evidence =
      "mean best-match |cosine| of the supervised conv1 filters with each trunk's (1 = identical filters; "
      "random filters give " +
      fmt(floor, 3) + "): " + ev.str() +
      "how far each conv1 moved from its own initialization is the next claim; see the filter pictures";
  return c;
}

// Issue 19's bar: a trained conv1 whose filters keep a mean cosine of 0.9 or more with their own
// initialization has not learned filters of its own, whatever else the network learned.
constexpr double kConv1Moved = 0.9;

Claim conv1_moves(const StudyResult& r) {
  Claim c;
  c.text =
      "Every trained trunk's conv1 moves from its initialization (mean filter cosine to its own initial filters "
      "below " +
      fmt(kConv1Moved, 1) + ")";
  std::ostringstream ev;
  int count = 0;
  c.holds = true;
  for (const TrunkResult& t : r.trunks) {
    if (t.conv1_init_cosine < 0) continue;  // untrained (random)
    ++count;
    c.holds &= t.conv1_init_cosine < kConv1Moved;
    ev << t.name << " " << fmt(t.conv1_init_cosine, 3) << (t.conv1_init_cosine < kConv1Moved ? "" : " (not moved)");
    if (t.steps > 0) ev << " after " << t.steps << " steps at lr " << t.lr;  // why it moved as far as it did
    ev << "; ";
  }
  c.holds &= count > 0;
  c.evidence = ev.str() + "1 = unmoved, 0 = no longer related to the initialization";
  return c;
}

Claim supervised_is_upper_bound(const StudyResult& r, const TrunkResult& sup) {
  Claim c;
  c.text = "Supervised features are the upper bound: their best probe is at least as good as every other trunk's best";
  double bs = 0;
  for (const ProbeResult& p : sup.probes) bs = std::max(bs, p.test_accuracy);
  std::ostringstream ev;
  ev << "supervised " << fmt(bs, 4);
  c.holds = true;
  for (const TrunkResult& t : r.trunks) {
    if (&t == &sup) continue;
    double bt = 0;
    std::string where;
    for (const ProbeResult& p : t.probes)
      if (p.test_accuracy > bt) bt = p.test_accuracy, where = short_name(p.layer);
    if (bt > bs) c.holds = false;
    ev << ", " << t.name << " " << fmt(bt, 4) << " (" << where << ")";
  }
  c.evidence = ev.str();
  return c;
}

}  // namespace

std::vector<Claim> evaluate_claims(const StudyResult& r) {
  const TrunkResult* random = find(r, "random");
  const TrunkResult* sup = find(r, "supervised");
  if (!random) return {};
  const double n = (double)std::max<int64_t>(1, r.config.probe_test);
  std::vector<Claim> claims = {beats_random(r, *random, n), peaks_before_last_layer(r, *random, n), filters_differ(r),
                               conv1_moves(r)};
  if (sup) claims.push_back(supervised_is_upper_bound(r, *sup));
  return claims;
}

}  // namespace pw::tasks
