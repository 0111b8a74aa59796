// SPDX-License-Identifier: MIT
// The parsed options of each lamctl subcommand (main.cpp fills them with CLI11). The engine
// module (engine/) receives EmbedOptions and ModelOptions by reference: both sides come from
// one build, which engine_module.h checks.
#pragma once

#include <cstddef>
#include <string>

namespace lam::ctl {

struct EmbedOptions {
  std::string model_dir;   // --model: compute in-process (engine module)
  std::string socket;      // resolved control socket when model_dir is empty (through lamd)
  std::string backend = "auto";
  int threads = 0;
  size_t batch_lines = 64;
  bool text = false;
};

struct StatusOptions {
  std::string socket;
  std::string section;     // lower-cased; empty = all
  bool json = false;
  bool prometheus = false;
};

struct PingOptions {
  std::string socket;
  long count = 1;
  bool live = false;        // exit 0 on any answer (a liveness probe), not only when ready
};

struct CacheOptions {
  std::string socket;
  std::string verb;        // ls | warm | clear
  bool json = false;
};

struct ModelOptions {
  std::string verb;        // install | ls | use
  std::string argument;    // install: the model directory; use: the model name
  std::string state_dir;   // resolved: --state-dir, $LAMD_STATE_DIR or /var/lib/lamd
  std::string name;        // install --name
  bool activate = false;
  bool force = false;
};

}  // namespace lam::ctl
