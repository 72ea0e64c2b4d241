// The pieces of the study's report (inside tasks/; the public calls are in report.h): the claims
// (report_claims.cpp), the HTML page, one function per section (report_html.cpp), and the plots,
// summary.json and the terminal summary (report.cpp). Each reads the StudyResult that the
// study's stages filled.
#pragma once
#include <string>
#include <vector>

#include "tasks/html.h"
#include "tasks/report.h"

namespace pw::tasks::report {

inline std::string fmt(double v, int decimals = 4) { return fixed(v, decimals); }

// The probe accuracy of a trunk at a layer (short name), NaN when it has no such layer.
double probe_at(const TrunkResult& t, const std::string& layer);

// Is it one of the Fashion-MNIST pretext trunks (rotation, jigsaw, context)?
bool is_pretext(const TrunkResult& t);

// The plots of the report, paths relative to it; empty when there was nothing to draw.
struct Plots {
  std::string loss_png, probe_png;
};

// report.html: the page, section by section.
std::string report_html(const StudyResult& r, const std::vector<Claim>& claims, const Plots& plots,
                        const std::string& command);

}  // namespace pw::tasks::report
