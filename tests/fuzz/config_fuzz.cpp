// SPDX-License-Identifier: MIT
// libFuzzer: lamd's configuration (daemon/server/config.cpp). The first byte picks the entry:
//   even  the rest is a lamd.conf (LoadConfigFile, through a memfd)
//   odd   the rest is a command line: arguments separated by NUL bytes (ParseCommandLine, CLI11); the
//         value of any --config is replaced by a memfd holding the same bytes, so no input can
//         make the parser open a path of its choosing (/dev/zero, a fifo).
// A crash, a sanitizer report, a leak or an exception is a finding; errors must be statuses.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/config.h"

namespace {

// One memfd for the whole run, rewritten by each input.
const std::string& WriteConfigFile(const uint8_t* data, size_t size) {
  static const int fd = [] {
    const int f = ::memfd_create("config_fuzz", MFD_CLOEXEC);
    if (f < 0) std::abort();
    return f;
  }();
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (::ftruncate(fd, 0) != 0 || (size != 0 && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))) {
    std::abort();
  }
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool command_line = (data[0] & 1) != 0;
  ++data;
  --size;
  const std::string& file = WriteConfigFile(data, size);
  lam::server::Config c;
  if (!command_line) {
    const lam::Status st = lam::server::LoadConfigFile(&c, file);
    if (!st.ok() && st.message().empty()) std::abort();  // an error must say what is wrong
  } else {
    std::vector<std::string> args{"lamd"};
    std::string cur;
    for (size_t i = 0; i < size; ++i) {
      if (data[i] == '\0') {
        args.push_back(cur);
        cur.clear();
      } else {
        cur += static_cast<char>(data[i]);
      }
    }
    if (!cur.empty()) args.push_back(cur);
    for (size_t i = 1; i < args.size(); ++i) {
      std::string a = args[i];
      for (auto& ch : a) ch = ch == '_' ? '-' : ch;
      if (a == "--config" && i + 1 < args.size()) args[i + 1] = file;
      if (a.rfind("--config=", 0) == 0) args[i] = "--config=" + file;
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    lam::server::CommandLine cl;
    const lam::Status st = lam::server::ParseCommandLine(&c, static_cast<int>(argv.size()), argv.data(), &cl);
    if (!st.ok() && st.message().empty()) std::abort();
    // Everything CLI11 refuses is INVALID_ARG (a config file that cannot be read: IO_ERROR).
    if (!st.ok() && st.code() != LAM_STATUS_INVALID_ARG && st.code() != LAM_STATUS_IO_ERROR) std::abort();
  }
  (void)lam::server::SessionsPerUid(c);
  return 0;
}
