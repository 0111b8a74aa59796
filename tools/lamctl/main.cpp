// SPDX-License-Identifier: MIT
// lamctl: `lamctl <command> [options]`; `lamctl --help` lists the commands.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"
#include "lam/lam_version.h"

namespace lam::ctl {
namespace {

// Add new subcommands here (and declare them in commands.h).
const Command kCommands[] = {
    {"embed", "read JSON lines of token ids on stdin, write one embedding per line (in-process engine)", CmdEmbed},
    {"status", "lamd's state in INFO sections (--json for scripts)", CmdStatus},
    {"ping", "round trips to lamd over the control socket", CmdPing},
    {"cache", "lamd's executable cache: ls | warm | clear", CmdCache},
    {"model", "models in lamd's state directory: install DIR | ls | use NAME", CmdModel},
};

void Usage(FILE* f) {
  std::fprintf(f, "usage: lamctl <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(f, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(f, "\n`lamctl <command> --help` describes a command's options.\n");
}

}  // namespace
}  // namespace lam::ctl

int main(int argc, char** argv) {
  using lam::ctl::kCommands;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    lam::ctl::Usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("lamctl %s (%s)\n", LAM_VERSION_STRING, LAM_BUILD_COMMIT);
    return 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) == 0) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "lamctl: unknown command '%s'\n\n", argv[1]);
  lam::ctl::Usage(stderr);
  return 2;
}
