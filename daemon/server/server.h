// SPDX-License-Identifier: MIT
// lamd's control plane: one libuv loop thread owns the listening Unix socket, every client
// connection and the timers. The data plane (data_plane.h) has its own thread that waits for
// doorbells and drains the submission rings; the scheduler's worker thread posts completions
// straight into the clients' completion rings. Disconnects they decide on are handed back to
// the loop through one uv_async_t (libuv coalesces sends, so the callback drains a queue).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/histogram.h"
#include "common/status.h"
#include "engine/engine.h"
#include "http/api.h"
#include "http/http_server.h"
#include "scheduler/scheduler.h"
#include "server/admission.h"
#include "server/arena_budget.h"
#include "server/config.h"
#include "server/conn_limits.h"
#include "server/data_plane.h"
#include "server/peer_auth.h"
#include "server/session.h"
#include "server/stats.h"
#include "server/text_worker.h"
#include "server/warmup.h"
#include "tokenizer/wordpiece.h"

namespace lam::server {

// Request::transport of the requests lamd submits to the scheduler.
inline constexpr uint32_t kTransportShm = 0;
inline constexpr uint32_t kTransportHttp = 1;
inline constexpr uint32_t kTransportCount = 2;

class Server : public scheduler::CompletionSink, private DataPlane::Sink, private http::HttpServer::Handler {
 public:
  // `engine` must outlive the server. Run() runs `warmup` on a thread of its own while the loop
  // already answers; requests are admitted (and systemd told READY=1) once it has returned OK.
  // A failed warm-up ends Run() with 1. No `warmup`: ready at once (tests with fake engines).
  Server(Config config, engine::Engine* engine, WarmupFn warmup = {});
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the socket and prepares the loop. After OK, Run() serves.
  Status Start();
  // Starts the warm-up, then runs the loop until SIGTERM/SIGINT (or RequestStop) has drained
  // in-flight work. Returns 0 on a clean drain, 1 if the shutdown timeout cut in-flight work
  // off or the warm-up failed.
  int Run();
  // Thread-safe: begins the same drain as SIGTERM.
  void RequestStop();
  // After Run(): a batch was still computing when the shutdown timeout ran out and the scheduler
  // was left running it, or lamd was stopped during a warm-up that was left running. The process must end at once (_exit) without destroying the server or
  // the engine (waiting for the batch would break the bound; destroying them under it is unsafe).
  bool must_exit_now() const { return abandoned_; }

  void OnComplete(std::unique_ptr<scheduler::Request> request) override;

 private:
  struct Conn;
  struct HttpCall;  // server_http.cpp
  // Per-transport counters behind lamctl status' "transports" section and /metrics.
  struct TransportMetrics {
    uint64_t by_status[LAM_STATUS_LAST_] = {};
    uint64_t sequences = 0;
    uint64_t tokens = 0;
    LatencyHistogram request_seconds;  // arrival to completion
    LatencyHistogram queue_seconds;    // a request's longest wait in the scheduler's queue
  };

  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnAsync(uv_async_t* a);
  static void OnSignal(uv_signal_t* s, int signum);
  static void OnWatchdog(uv_timer_t* t);
  static void OnDrainTimer(uv_timer_t* t);
  static void OnHelloTimeout(uv_timer_t* t);
  // The server-wide handles (data = the Server) are registered through this: Fn's exceptions are
  // caught, counted and logged here (DESIGN.md invariant 7). Per-connection callbacks guard
  // themselves, since they close the connection on an exception.
  template <auto Fn, typename H, typename... A>
  static void Boundary(H* h, A... a) noexcept;

  void Accept(uv_stream_t* listener);
  // Handles every whole frame buffered on `c` (stops while a cache job runs for it).
  void ProcessFrames(Conn* c);
  // Sends a HelloReply carrying only `st` (no wait, no descriptors) and closes `c`.
  void Refuse(Conn* c, const Status& st, const char* why);
  void HandleCacheRequest(Conn* c, const char* payload, uint32_t size);
  void HandleFrame(Conn* c, uint16_t type, const char* payload, uint32_t size);
  void HandleHello(Conn* c, const char* payload, uint32_t size, bool version_ok);
  bool SendHelloReply(Conn* c, const void* reply, size_t size, const int* fds, int n_fds);
  void SendFrame(Conn* c, uint16_t type, const std::string& payload);
  // DataPlane::Sink (data-plane thread).
  void OnSubmission(const std::shared_ptr<ClientSession>& s, const shm::SubmitDesc& d) override;
  void OnViolation(uint64_t client_id, const char* why) override;
  void HandleTextSubmission(const std::shared_ptr<ClientSession>& s, const shm::SubmitDesc& d);
  // Worker side (text worker or scheduler worker): writes `req`'s outcome to its client's
  // completion ring; `detail` goes to CompletionDesc::detail.
  void PostCompletion(std::unique_ptr<scheduler::Request> req, uint64_t detail);
  void CompleteNow(ClientSession* s, uint64_t ticket, uint64_t output_offset, const Status& st,
                   uint64_t detail);
  void CloseConn(Conn* c, const char* why);
  // Queues `text` on the text worker: tokenised (each text cut to `max_tokens` ids) in slices,
  // then submitted to the scheduler; a failure completes it through PostCompletion. Shared by
  // the shared-memory and the HTTP text paths.
  void QueueTokenize(uint64_t client, std::shared_ptr<TextRequest> text, std::function<bool()> cancelled,
                     size_t max_tokens);
  // Counts one finished request of `transport` (any thread).
  void RecordCompletion(uint32_t transport, const scheduler::Request* req, lam_status status);

  // ---- HTTP face (server_http.cpp) ----
  Status StartHttp();
  void OnRequest(uint64_t conn, const http::ListenAddress& via, http::Request request) override;
  void OnAbandoned(uint64_t conn) override;
  void StartEmbed(uint64_t conn, http::Route route, const http::Request& request);
  void RespondError(uint64_t conn, http::Route route, const http::ApiError& e);
  // Worker side: hands a finished HTTP request to the loop (http_async_).
  void PostHttpCompletion(std::unique_ptr<scheduler::Request> req, uint64_t detail);
  static void OnHttpAsync(uv_async_t* a);
  void FinishHttp(std::unique_ptr<scheduler::Request> req);
  std::string TeiInfoJson();
  void BeginShutdown();
  void FinishShutdown();
  // Loop thread, once the warm-up thread has returned: serve, or stop on failure.
  void FinishWarmup();
  // Hellos that asked for a segment during warm-up wait here (their reading paused) and are
  // answered when it ends; this resumes them.
  void ReleaseParkedHellos();
  bool MustWaitForWarmup(const Conn* c, const char* payload, uint32_t size, bool version_ok) const;
  // "bucket 3 of 8 (64x512)" while warming.
  std::string WarmupProgressText();
  // The persistent cache directory in use; "" = memory only.
  std::string ActiveCacheDir() const { return config_.cache_dir == "none" ? "" : config_.cache_dir; }
  // server_status.cpp. The client list shows every client to admins, the asker's own uid's
  // clients to others.
  std::string StatusJson(uint32_t viewer_uid);
  // No uid: what GET /metrics shows (aggregates, no client list).
  static constexpr uint32_t kNoViewer = UINT32_MAX;
  std::string CacheJson(const std::string& verb);
  static std::string CacheErrorJson(lam_status code, const std::string& message);

  Config config_;
  engine::Engine* engine_;
  WarmupFn warmup_fn_;
  std::thread warmup_thread_;
  std::atomic<bool> warmup_finished_{false};  // set by the warm-up thread as it returns
  bool serving_ = false;                      // loop thread: warm-up done, requests admitted
  bool warmup_handled_ = false;               // loop thread: FinishWarmup ran
  std::vector<uint64_t> parked_hellos_;       // loop thread: connection ids
  std::mutex warmup_mu_;                      // guards the four below (warm-up thread vs loop)
  WarmupInfo warmup_;
  Status warmup_status_;
  size_t warmup_done_ = 0, warmup_total_ = 0;
  std::string warmup_bucket_;
  PeerPolicy policy_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  uint64_t epoch_ = 0;
  int64_t start_ns_ = 0;

  uv_loop_t loop_{};
  uv_pipe_t listener_{};
  uv_async_t async_{};
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_timer_t watchdog_{};
  uv_timer_t drain_timer_{};
  bool listening_ = false;
  bool draining_ = false;
  int64_t drain_deadline_ns_ = 0;
  int exit_code_ = 0;
  bool drain_cut_off_ = false;  // the shutdown timeout passed with work in flight
  bool abandoned_ = false;

  uint64_t next_client_id_ = 1;
  std::map<uint64_t, Conn*> conns_;  // loop thread only
  ConnLimits limits_;                // loop thread only
  std::mutex cache_mu_;              // one cache warm|clear at a time (libuv's thread pool)

  // Data plane / worker -> loop hand-off: clients to disconnect, with the reason.
  std::mutex handoff_mu_;
  std::vector<std::pair<uint64_t, std::string>> handoff_broken_;
  std::atomic<bool> stop_requested_{false};
  std::mutex async_mu_;
  bool async_open_ = false;  // guarded by async_mu_: async_ may be sent to
  void WakeLoop();           // uv_async_send(&async_) while it is open (any thread)

  Counters counters_;
  // Shared memory live sessions hold, per uid and in all (arena_budget.h); sessions keep a
  // reference until they are destroyed.
  std::shared_ptr<ArenaBudget> arena_budget_;

  // Loaded once at Start() from the model directory; empty when the model has no vocab.txt
  // (text requests then fail with UNSUPPORTED).
  std::optional<tokenizer::WordPieceTokenizer> tokenizer_;
  size_t text_max_tokens_ = 0;  // a text's default truncation length (tokenizer/sentence_config.h)
  std::string tokenizer_error_;
  TextWorker text_worker_;  // stopped before the scheduler
  // Feeds the scheduler and the text worker: stopped before both.
  std::unique_ptr<DataPlane> data_plane_;

  std::mutex metrics_mu_;
  TransportMetrics transport_metrics_[kTransportCount];  // guarded by metrics_mu_

  // HTTP face: off unless config_.http names a listener. Loop thread, except the hand-off.
  std::unique_ptr<http::HttpServer> http_;
  std::string http_token_;                                 // "" = no authentication
  std::map<uint64_t, std::shared_ptr<HttpCall>> http_calls_;  // by HTTP connection
  uv_async_t http_async_{};
  std::mutex http_done_mu_;
  bool http_async_open_ = false;  // guarded by http_done_mu_
  std::vector<std::pair<std::unique_ptr<scheduler::Request>, uint64_t>> http_done_;
};

}  // namespace lam::server
