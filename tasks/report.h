// The study's report: one HTML page with its PNGs (plots drawn by patchwork itself), a JSON
// summary of every number, and a text summary for the terminal. The claims of the seed papers
// that the study tests are evaluated here and stated plainly, held or not.
#pragma once
#include <string>
#include <vector>

#include "tasks/study.h"

namespace pw::tasks {

struct Claim {
  std::string text;  // the claim, as the papers make it
  bool holds = false;
  std::string evidence;  // the numbers behind the verdict
};

std::vector<Claim> evaluate_claims(const StudyResult& r);

// Writes report.html, summary.json and the plots under r.config.out_dir; returns the text summary.
// `command` is the command line that reproduces the run.
std::string write_report(const StudyResult& r, const std::string& command);

}  // namespace pw::tasks
