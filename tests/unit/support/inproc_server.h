// SPDX-License-Identifier: MIT
// A real lam::server::Server in this process (its loop on a thread, a fresh socket under /tmp),
// for the control-plane tests and the control_frames fuzzer.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "server/config.h"
#include "server/server.h"
#include "unit/support/raw_control.h"

namespace lam::testing {

class InprocServer {
 public:
  ~InprocServer() { Stop(); }

  // Starts a Server for `engine` (which must outlive it); `tweak` adjusts the config first;
  // `warmup` is what Run() warms up with (none: ready at once).
  Status Start(engine::Engine* engine, const std::function<void(server::Config*)>& tweak = {},
               server::WarmupFn warmup = {}) {
    char dir[] = "/tmp/lamd-inproc-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return Status(LAM_STATUS_IO_ERROR, "mkdtemp");
    dir_ = dir;
    server::Config c;
    c.model = dir_;  // no vocab.txt: text requests are refused, which these tests do not use
    c.socket = dir_ + "/lamd.sock";
    c.cache_dir = "";
    c.shutdown_timeout_ms = 2000;
    if (tweak) tweak(&c);
    socket_ = c.socket;
    server_ = std::make_unique<server::Server>(c, engine, std::move(warmup));
    LAM_RETURN_IF_ERROR(server_->Start());
    loop_ = std::thread([this] {
      exit_code_ = server_->Run();
      run_returned_.store(true);
    });
    return Status::Ok();
  }

  // Asks the server to stop and waits for Run() to return (the Server itself is kept: a
  // warm-up still running is joined by its destructor); returns Run()'s exit code.
  int StopLoop() {
    if (server_ == nullptr) return exit_code_;
    server_->RequestStop();
    if (loop_.joinable()) loop_.join();
    return exit_code_;
  }
  // Waits for Run() to return by itself (a failed warm-up), at most `ms`; false if it did not.
  bool WaitRunReturned(int ms) {
    for (int i = 0; i < ms / 10 && !run_returned_.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return run_returned_.load();
  }
  server::Server* server() { return server_.get(); }

  // Drains and stops the server; returns Run()'s exit code.
  int Stop() {
    if (server_ == nullptr) return exit_code_;
    server_->RequestStop();
    if (loop_.joinable()) loop_.join();
    server_.reset();
    ::unlink(socket_.c_str());
    ::rmdir(dir_.c_str());
    return exit_code_;
  }

  const std::string& socket() const { return socket_; }

 private:
  std::unique_ptr<server::Server> server_;
  std::thread loop_;
  std::string dir_, socket_;
  int exit_code_ = -1;
  std::atomic<bool> run_returned_{false};
};

}  // namespace lam::testing
