// SPDX-License-Identifier: MIT
// lamctl: `lamctl <command> [options]`; `lamctl --help` lists the commands, `lamctl <command>
// --help` describes one. Options are parsed with CLI11 (as lamd's): `--opt value` and
// `--opt=value`; an error names the option and points at the command's --help. Commands that
// only talk to lamd run here; those that need the engine run in the engine module
// (engine_module.h), which this program loads only for them.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "common/cli.h"
#include "control_client.h"
#include "lam/lam_version.h"

namespace lam::ctl {
namespace {

constexpr const char* kSocketHelp = "lamd's control socket (default: $LAMD_SOCKET, else /run/lamd/lamd.sock)";

// "lamctl embed", "lamctl cache", ...: the deepest subcommand the parse reached.
std::string CommandPath(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) {
    at = at->get_subcommands().front();
    path += " " + at->get_name();
  }
  return path;
}

int UsageError(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "%s: %s\nrun '%s --help'\n", command.c_str(), message.c_str(), command.c_str());
  return 2;
}

std::string StateDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("LAMD_STATE_DIR");
  return env != nullptr && env[0] != '\0' ? env : "/var/lib/lamd";
}

int Main(int argc, char** argv) {
  CLI::App app("lamd's command-line client and admin tool", "lamctl");
  app.allow_extras();  // reported below as "--name: unknown option", naming the command
  // One command per run: past it, a word such as `model` (status model) is an argument, never a
  // second command (CLI11 would otherwise look for it among the top-level commands).
  app.require_subcommand(0, 1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.footer("`lamctl <command> --help` describes a command's options.");
  bool version = false;
  app.add_flag("--version", version, "print lamctl's version and exit");

  EmbedOptions embed;
  std::string embed_socket;
  CLI::App* embed_cmd = app.add_subcommand(
      "embed", "embed JSON lines of token ids (or --text lines) from stdin: through lamd, or in-process with --model");
  auto* model_opt = embed_cmd->add_option("--model", embed.model_dir, "compute in-process with this model directory")
                        ->type_name("DIR");
  auto* socket_opt = embed_cmd->add_option("--socket", embed_socket, kSocketHelp)->type_name("PATH");
  model_opt->excludes(socket_opt);
  embed_cmd->add_flag("--text", embed.text,
                      "each input line is UTF-8 text, tokenised as lamd does (the model's vocab.txt, truncated to "
                      "its maximum)");
  embed_cmd->add_option("--batch", embed.batch_lines, "lines computed together (default 64); changes no result")
      ->type_name("N")
      ->check(cli::IntegerIn(1, 4096));
  embed_cmd->add_option("--threads", embed.threads, "with --model: CPU threads (default 0 = all cores)")
      ->type_name("N")
      ->check(cli::IntegerIn(0, 4096))
      ->needs(model_opt);
  embed_cmd->add_option("--backend", embed.backend, "with --model: compute backend (default auto)")
      ->type_name("auto|cpu|cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->needs(model_opt);
  embed_cmd->footer(
      "Input: one JSON array of token ids per line ([CLS] and [SEP] included), or with --text one text per\n"
      "line. Output: one JSON array of floats (the L2-normalised embedding) per line, in input order.\n"
      "Without --model the embeddings come from lamd; both ways print the same bytes.");

  StatusOptions status;
  std::string status_socket;
  CLI::App* status_cmd = app.add_subcommand("status", "lamd's state in INFO sections (--json for scripts)");
  status_cmd->add_option("--socket", status_socket, kSocketHelp)->type_name("PATH");
  auto* json_opt = status_cmd->add_flag("--json", status.json, "the daemon's JSON document (with schema_version)");
  auto* prom_opt = status_cmd->add_flag(
      "--prometheus", status.prometheus,
      "the Prometheus text exposition (format 0.0.4), e.g. for node_exporter's textfile collector");
  prom_opt->excludes(json_opt);
  auto* section_opt =
      status_cmd->add_option("section", status.section,
                             "one section: server model clients queue batches requests executables transports http")
          ->type_name("SECTION");
  prom_opt->excludes(section_opt);

  PingOptions ping;
  std::string ping_socket;
  CLI::App* ping_cmd = app.add_subcommand("ping", "round trips to lamd over the control socket");
  ping_cmd->add_option("--socket", ping_socket, kSocketHelp)->type_name("PATH");
  ping_cmd->add_option("-c,--count", ping.count, "pings to send (default 1)")
      ->type_name("N")
      ->check(cli::IntegerIn(1, 1000000));
  ping_cmd->add_flag("--live", ping.live, "exit 0 whenever lamd answers (a liveness probe)");
  ping_cmd->footer("exit status: 0 ready to serve, 3 answering but not ready (warming up or draining),\n"
                   "1 no answer; with --live, 0 whenever lamd answers");

  CacheOptions cache;
  std::string cache_socket;
  CLI::App* cache_cmd = app.add_subcommand("cache", "lamd's executable cache: ls | warm | clear");
  cache_cmd->add_option("verb", cache.verb, "ls, warm or clear")
      ->type_name("ls|warm|clear")
      ->required()
      ->check(CLI::IsMember({"ls", "warm", "clear"}));
  cache_cmd->add_option("--socket", cache_socket, kSocketHelp)->type_name("PATH");
  cache_cmd->add_flag("--json", cache.json, "the daemon's JSON reply");
  cache_cmd->footer(
      "  ls     executables per bucket: resident, bytes, hits, misses, compile and load times\n"
      "  warm   compile (or load) every configured bucket that is not resident\n"
      "  clear  drop resident executables not in use (the next request recompiles)");

  ModelOptions model;
  std::string state_flag;
  CLI::App* model_cmd = app.add_subcommand("model", "models in lamd's state directory: install DIR | ls | use NAME");
  model_cmd->require_subcommand(1);
  model_cmd->footer("STATE is --state-dir, else $LAMD_STATE_DIR, else /var/lib/lamd. Restart lamd after a change.");
  auto add_state = [&state_flag](CLI::App* c) {
    c->add_option("--state-dir", state_flag, "lamd's state directory")->type_name("DIR");
  };
  CLI::App* install_cmd = model_cmd->add_subcommand(
      "install", "validate the model directory DIR and copy it to STATE/models/NAME (NAME: DIR's basename)");
  install_cmd->add_option("dir", model.argument, "the model directory")->type_name("DIR")->required();
  install_cmd->add_option("--name", model.name, "install under this name")->type_name("NAME");
  install_cmd->add_flag("--activate", model.activate, "also make it the active model (STATE/model)");
  install_cmd->add_flag("--force", model.force, "replace an installed model of that name");
  add_state(install_cmd);
  CLI::App* ls_cmd = model_cmd->add_subcommand("ls", "installed models with their fingerprints; '*' marks the active one");
  add_state(ls_cmd);
  CLI::App* use_cmd = model_cmd->add_subcommand("use", "make an installed model the active one (STATE/model)");
  use_cmd->add_option("name", model.argument, "an installed model")->type_name("NAME")->required();
  add_state(use_cmd);

  CLI::App* help_cmd = app.add_subcommand("help", "this list");

  try {
    cli::Parse(app, cli::Arguments(argc, argv));
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(CommandPath(app), cli::Describe(e));
  }
  if (version) {
    std::printf("lamctl %s (%s)\n", LAM_VERSION_STRING, LAM_BUILD_COMMIT);
    return 0;
  }
  const std::vector<std::string> rest = app.remaining(/*recurse=*/true);
  if (app.get_subcommands().empty()) {
    if (!rest.empty() && rest.front()[0] != '-') return UsageError("lamctl", "unknown command '" + rest.front() + "'");
    if (!rest.empty()) return UsageError("lamctl", cli::Leftover(rest));
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  if (!rest.empty()) return UsageError(CommandPath(app), cli::Leftover(rest));

  if (app.got_subcommand(help_cmd)) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  if (app.got_subcommand(embed_cmd)) {
    if (!embed.model_dir.empty()) return RunEngineEmbed(embed);
    embed.socket = ResolveSocket(embed_socket);
    return RunDaemonEmbed(embed);
  }
  if (app.got_subcommand(status_cmd)) {
    status.socket = ResolveSocket(status_socket);
    std::transform(status.section.begin(), status.section.end(), status.section.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return RunStatus(status);
  }
  if (app.got_subcommand(ping_cmd)) {
    ping.socket = ResolveSocket(ping_socket);
    return RunPing(ping);
  }
  if (app.got_subcommand(cache_cmd)) {
    cache.socket = ResolveSocket(cache_socket);
    return RunCache(cache);
  }
  model.state_dir = StateDir(state_flag);
  model.verb = model_cmd->get_subcommands().front()->get_name();
  return RunModel(model);
}

}  // namespace
}  // namespace lam::ctl

int main(int argc, char** argv) {
  try {
    return lam::ctl::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lamctl: fatal: %s\n", e.what());
    return 1;
  }
}
