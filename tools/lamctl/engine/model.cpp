// SPDX-License-Identifier: MIT
// lamctl model install|ls|use (in the engine module): the models of lamd's state directory (default /var/lib/lamd,
// --state-dir or LAMD_STATE_DIR), laid out as
//   STATE/models/NAME/   installed model directories (config.json, model.safetensors, vocab.txt, ...)
//   STATE/model          symlink to models/NAME: the active model (lamd.conf's default `model`)
// install validates DIR as lamd would load it, copies it to models/.NAME.partial (files fsynced),
// validates the copy (same fingerprint) and renames it into place; --activate (or `use NAME`)
// then points STATE/model at it with an atomic rename. lamctl never downloads: NAME must be an
// installed model (for `use`) and install takes a directory (tools/models/ fetches one).
// lamd reads the model at start: restart it (systemctl restart lamd) after `use`.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "engine/model_loader.h"
#include "engine_commands.h"

namespace lam::ctl {
namespace {

namespace fs = std::filesystem;

// A name that stays one path component and cannot collide with our temporary names.
bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 128 || n[0] == '.') return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

bool SyncPath(const fs::path& p, std::string* err) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    *err = "fsync " + p.string() + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  ::close(fd);
  return true;
}

// Copies the regular files and directories of `from` (symlinks are followed; anything else is
// refused) into the new directory `to`, files 0644 and directories 0755, each file fsynced.
bool CopyTree(const fs::path& from, const fs::path& to, std::string* err) {
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) {
    *err = "mkdir " + to.string() + ": " + ec.message();
    return false;
  }
  fs::permissions(to, fs::perms(0755), ec);
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    const fs::path target = to / entry.path().filename();
    if (entry.is_directory(ec)) {
      if (!CopyTree(entry.path(), target, err)) return false;
    } else if (entry.is_regular_file(ec)) {
      fs::copy_file(entry.path(), target, ec);
      if (!ec) fs::permissions(target, fs::perms(0644), ec);
      if (ec) {
        *err = "copy " + entry.path().string() + ": " + ec.message();
        return false;
      }
      if (!SyncPath(target, err)) return false;
    } else {
      *err = entry.path().string() + ": not a regular file or directory";
      return false;
    }
  }
  if (ec) {
    *err = "read " + from.string() + ": " + ec.message();
    return false;
  }
  return SyncPath(to, err);
}

// STATE/model -> models/NAME, replaced atomically (a new link renamed over the old one).
bool Activate(const fs::path& state, const std::string& name, std::string* err) {
  const fs::path link = state / "model", tmp = state / (".model.partial." + std::to_string(::getpid()));
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(link, ec);
  if (fs::exists(st) && !fs::is_symlink(st)) {
    *err = link.string() + " exists and is not a symlink made by lamctl model: move it away first";
    return false;
  }
  fs::remove(tmp, ec);
  fs::create_directory_symlink(fs::path("models") / name, tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    *err = "activate " + name + ": " + ec.message();
    return false;
  }
  return SyncPath(state, err);
}

std::string ActiveName(const fs::path& state) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(state / "model", ec);
  return ec ? "" : target.filename().string();
}

int Install(const fs::path& state, const std::string& dir, std::string name, bool activate, bool force) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    std::fprintf(stderr,
                 "lamctl model install: '%s' is not a model directory (lamctl does not download models; "
                 "fetch one first, e.g. tools/models/fetch-minilm.sh DIR)\n",
                 dir.c_str());
    return 1;
  }
  if (name.empty()) name = fs::absolute(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  if (!ValidName(name)) {
    std::fprintf(stderr, "lamctl model install: '%s' is not a valid model name ([A-Za-z0-9._-], not starting with '.')\n",
                 name.c_str());
    return 2;
  }
  auto source = engine::LoadModel(dir);
  if (!source.ok()) {
    std::fprintf(stderr, "lamctl model install: %s is not a model lamd can load: %s\n", dir.c_str(),
                 source.status().message().c_str());
    return 1;
  }
  const fs::path models = state / "models", final_dir = models / name;
  const fs::path partial = models / ("." + name + ".partial." + std::to_string(::getpid()));
  fs::create_directories(models, ec);
  if (ec) {
    std::fprintf(stderr, "lamctl model install: mkdir %s: %s\n", models.c_str(), ec.message().c_str());
    return 1;
  }
  if (fs::exists(final_dir, ec) && !force) {
    std::fprintf(stderr, "lamctl model install: %s is already installed (--force replaces it)\n", name.c_str());
    return 1;
  }
  std::string err;
  fs::remove_all(partial, ec);
  if (!CopyTree(dir, partial, &err)) {
    fs::remove_all(partial, ec);
    std::fprintf(stderr, "lamctl model install: %s\n", err.c_str());
    return 1;
  }
  auto copy = engine::LoadModel(partial.string());
  if (!copy.ok() || (*copy)->fingerprint() != (*source)->fingerprint()) {
    fs::remove_all(partial, ec);
    std::fprintf(stderr, "lamctl model install: the copy in %s does not load as the original did%s%s\n",
                 models.c_str(), copy.ok() ? "" : ": ", copy.ok() ? "" : copy.status().message().c_str());
    return 1;
  }
  std::error_code ignored;
  if (fs::exists(final_dir, ignored)) {  // --force: the old copy goes once the new one is in place
    const fs::path old = models / ("." + name + ".old." + std::to_string(::getpid()));
    fs::rename(final_dir, old, ec);
    if (!ec) {
      fs::rename(partial, final_dir, ec);
      if (ec) {
        fs::rename(old, final_dir, ignored);  // put the old one back
      } else {
        fs::remove_all(old, ignored);
      }
    }
  } else {
    fs::rename(partial, final_dir, ec);
  }
  if (ec || !SyncPath(models, &err)) {
    fs::remove_all(partial, ignored);
    std::fprintf(stderr, "lamctl model install: %s\n", ec ? ec.message().c_str() : err.c_str());
    return 1;
  }
  std::printf("installed %s (fingerprint %s) in %s\n", name.c_str(), (*source)->fingerprint().c_str(),
              final_dir.c_str());
  if (activate) {
    if (!Activate(state, name, &err)) {
      std::fprintf(stderr, "lamctl model install: %s\n", err.c_str());
      return 1;
    }
    std::printf("active model: %s (restart lamd to serve it)\n", name.c_str());
  }
  return 0;
}

int List(const fs::path& state) {
  std::error_code ec;
  const std::string active = ActiveName(state);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(state / "models", ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory(ec) && ValidName(n)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    auto m = engine::LoadModel((state / "models" / n).string());
    std::printf("%s %-40s %s\n", n == active ? "*" : " ", n.c_str(),
                m.ok() ? (*m)->fingerprint().c_str() : ("INVALID: " + m.status().message()).c_str());
  }
  return 0;
}

int Use(const fs::path& state, const std::string& name) {
  std::error_code ec;
  if (!ValidName(name) || !fs::is_directory(state / "models" / name, ec)) {
    std::fprintf(stderr, "lamctl model use: '%s' is not installed in %s/models (lamctl model ls)\n", name.c_str(),
                 state.c_str());
    return 1;
  }
  auto m = engine::LoadModel((state / "models" / name).string());
  if (!m.ok()) {
    std::fprintf(stderr, "lamctl model use: %s no longer loads: %s\n", name.c_str(), m.status().message().c_str());
    return 1;
  }
  std::string err;
  if (!Activate(state, name, &err)) {
    std::fprintf(stderr, "lamctl model use: %s\n", err.c_str());
    return 1;
  }
  std::printf("active model: %s (restart lamd to serve it)\n", name.c_str());
  return 0;
}

}  // namespace

int RunModelCommand(const ModelOptions& options) {
  const fs::path state = options.state_dir;
  if (options.verb == "install") return Install(state, options.argument, options.name, options.activate, options.force);
  if (options.verb == "ls") return List(state);
  if (options.verb == "use") return Use(state, options.argument);
  std::fprintf(stderr, "lamctl model: unknown verb '%s'\n", options.verb.c_str());
  return 2;
}

}  // namespace lam::ctl
