// Small helpers shared by the HTML pages patchwork writes (the study's report, the contact sheet).
#pragma once
#include <cstdio>
#include <string>

namespace pw::tasks {

// Text safe inside HTML elements and double-quoted attributes.
inline std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A number with a fixed count of decimals, for tables.
inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace pw::tasks
