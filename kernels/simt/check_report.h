// simt internals: the text of a PW_SIMT_CHECK report. The memory hooks keep code addresses
// (the return addresses they saw); they become "file:line (function)" only here, when the
// report is written at the end of the failed launch.
#pragma once
#include <string>
#include <vector>

namespace pw::simt::detail {

struct CheckReport {
  struct Line {
    std::string text;  // "thread (3,0,0) writes", "the access"
    const void* code;  // a return address inside the kernel's code, or nullptr
    const char* file;  // else a known site (the launch), or nullptr
    unsigned line;
  };
  std::string head;  // "simt racecheck: ..."
  std::vector<Line> lines;
};

// head, then each line as "\n  <text> at <file:line (function)>".
std::string format_report(const CheckReport& report);

// "file:line (function)" of each code address, through addr2line (binutils): the innermost
// inlined frame outside simt's own headers and the system's, so that an atomicAdd or __ldg
// names the kernel's line. An address without line information gives its module and offset.
std::vector<std::string> describe_code(const std::vector<const void*>& code);

}  // namespace pw::simt::detail
