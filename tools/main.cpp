// The `patchwork` command line: subcommands over the engine.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "engine/util/error.h"

int main(int argc, char** argv) {
  try {
    std::string cmd = argc > 1 ? argv[1] : "--help";
    if (cmd == "version" || cmd == "--version") {
      std::printf("patchwork %s\n", PW_VERSION);
      return 0;
    }
    std::printf("usage: patchwork <command> [options]\n\n  version   print the version\n");
    return cmd == "--help" || cmd == "-h" ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patchwork: error: %s\n", e.what());
    return 1;
  }
}
