// SPDX-License-Identifier: MIT
// lamctl subcommands. Each one is `int Cmd<Name>(int argc, char** argv)` (argv[0] is the
// subcommand name) in its own cmd_<name>.cpp and has one row in kCommands (main.cpp).
#pragma once

namespace lam::ctl {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

int CmdEmbed(int argc, char** argv);
int CmdStatus(int argc, char** argv);
int CmdPing(int argc, char** argv);
int CmdCache(int argc, char** argv);
int CmdModel(int argc, char** argv);

}  // namespace lam::ctl
