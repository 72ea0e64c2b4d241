// The libFuzzer entry of one fuzz target, fuzz_<name>: PW_FUZZ_TARGET names it (tests/fuzz/targets.h).
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pw::fuzz::Entry entry = [] {
    pw::fuzz::Entry e = pw::fuzz::find_target(PW_FUZZ_TARGET);
    if (e == nullptr) {
      std::fprintf(stderr, "fuzz: no target named '%s' in tests/fuzz/targets.h\n", PW_FUZZ_TARGET);
      std::abort();
    }
    return e;
  }();
  entry(data, size);
  return 0;
}
