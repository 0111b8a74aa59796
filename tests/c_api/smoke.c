/* SPDX-License-Identifier: MIT */
/*
 * Pure C99 (+POSIX) smoke test of liblamclient against a real lamd:
 *   smoke LAMD LAM_MKMODEL WORKDIR
 * makes a synthetic model, starts lamd on a socket in WORKDIR, exercises the C API, then
 * stops lamd with SIGTERM and checks that it exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lam/lam.h"

static int failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

#define CHECK_RC(expr, want)                                                              \
  do {                                                                                    \
    lam_status rc_ = (expr);                                                              \
    if (rc_ != (want)) {                                                                  \
      fprintf(stderr, "%s:%d: %s returned %d (%s), want %d: %s\n", __FILE__, __LINE__, #expr, \
              (int)rc_, lam_status_str(rc_), (int)(want), lam_client_last_error(client)); \
      ++failures;                                                                         \
    }                                                                                     \
  } while (0)

static pid_t spawn(char* const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static int log_connected = 0, log_debug = 0;

/* lam_set_log_callback: INFO lines for connections, DEBUG lines for every failed call. */
static void on_log(lam_log_level level, const char* message, void* user_data) {
  CHECK(user_data == &log_connected);
  CHECK(message != NULL && strchr(message, '\n') == NULL);
  if (level == LAM_LOG_INFO && strstr(message, "connected to") != NULL) ++log_connected;
  if (level == LAM_LOG_DEBUG) ++log_debug;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

int main(int argc, char** argv) {
  char model[4096], sock[4096];
  char* mk_argv[9];
  char* lamd_argv[12];
  pid_t mk, lamd;
  int st = 0, i;
  lam_client* client = NULL;
  lam_client_options opts = LAM_CLIENT_OPTIONS_INIT;
  lam_model_info info = LAM_MODEL_INFO_INIT;
  lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
  lam_result res = LAM_RESULT_INIT;
  int32_t ids[] = {101, 2023, 2003, 1037, 3231, 102, 101, 7592, 102};
  uint32_t lengths[] = {6, 3};
  float batch[2 * 384], single[384], res_rows[2 * 384];
  size_t count = 0;
  lam_ticket ticket = 0;
  uint32_t major = 0, minor = 0;

  if (argc != 4) {
    fprintf(stderr, "usage: smoke LAMD LAM_MKMODEL WORKDIR\n");
    return 2;
  }
  snprintf(model, sizeof model, "%s/model", argv[3]);
  snprintf(sock, sizeof sock, "%s/lamd.sock", argv[3]);

  mk_argv[0] = argv[2]; mk_argv[1] = "--variant"; mk_argv[2] = "f128"; mk_argv[3] = "--seed";
  mk_argv[4] = "1"; mk_argv[5] = "--out"; mk_argv[6] = model; mk_argv[7] = "--force"; mk_argv[8] = NULL;
  mk = spawn(mk_argv);
  waitpid(mk, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "lam-mkmodel failed\n");
    return 1;
  }
  lamd_argv[0] = argv[1]; lamd_argv[1] = "--model"; lamd_argv[2] = model; lamd_argv[3] = "--socket";
  lamd_argv[4] = sock; lamd_argv[5] = "--backend"; lamd_argv[6] = "cpu"; lamd_argv[7] = "--log-level";
  lamd_argv[8] = "warning"; lamd_argv[9] = NULL;
  lamd = spawn(lamd_argv);

  lam_set_log_callback(on_log, LAM_LOG_DEBUG, &log_connected); /* before any other call */

  /* Library facts that need no daemon. */
  CHECK(lam_version_number() == LAM_VERSION_NUMBER);
  CHECK(strcmp(lam_version_string(), LAM_VERSION_STRING) == 0);
  lam_api_version(&major, &minor);
  CHECK(major == LAM_VERSION_MAJOR);
  lam_protocol_version(&major, NULL);
  CHECK(major >= 1);
  CHECK(strcmp(lam_status_str(LAM_STATUS_OK), "ok") == 0);
  CHECK(strcmp(lam_status_str(-12345), "unknown status") == 0);
  lam_client_close(NULL);
  CHECK(strcmp(lam_client_last_error(NULL), "") == 0);
  CHECK(lam_client_open(NULL, NULL) == LAM_STATUS_INVALID_ARG);

  opts.socket_path = sock;
  for (i = 0; i < 600; ++i) { /* up to 60 s for load + warmup */
    if (lam_client_open(&opts, &client) == LAM_STATUS_OK) break;
    lam_client_close(client);
    client = NULL;
    sleep_ms(100);
  }
  if (client == NULL) {
    fprintf(stderr, "lamd did not come up on %s\n", sock);
    kill(lamd, SIGKILL);
    return 1;
  }

  CHECK_RC(lam_client_get_model_info(client, &info), LAM_STATUS_OK);
  CHECK(info.embedding_dim == 384);
  CHECK(info.max_tokens >= 512);
  CHECK(info.vocab_size > 7592);
  CHECK(info.n_buckets >= 1);
  CHECK(strlen(info.fingerprint) > 0);
  {
    /* The FFI-friendly twins: the dimension without a struct, options from a function. */
    uint32_t dim = 0;
    lam_client_options fopts;
    CHECK_RC(lam_client_get_embedding_dim(client, &dim), LAM_STATUS_OK);
    CHECK(dim == info.embedding_dim);
    CHECK_RC(lam_client_get_embedding_dim(client, NULL), LAM_STATUS_INVALID_ARG);
    CHECK_RC(lam_client_get_embedding_dim(NULL, &dim), LAM_STATUS_INVALID_ARG);
    lam_client_options_init(&fopts);
    CHECK(fopts.struct_size == sizeof(fopts) && fopts.socket_path == NULL && fopts.timeout_ms == 0);
  }

  /* Synchronous batch of two ragged sequences. */
  req.token_ids = ids;
  req.lengths = lengths;
  req.n_sequences = 2;
  CHECK_RC(lam_client_embed_tokens(client, &req, batch, 2 * 384, &count), LAM_STATUS_OK);
  CHECK(count == 2 * 384);
  {
    double norm = 0;
    for (i = 0; i < 384; ++i) norm += (double)batch[i] * batch[i];
    CHECK(norm > 0.99 && norm < 1.01);
  }
  /* The second sequence alone is bitwise the same as in the batch. */
  req.token_ids = ids + 6;
  req.lengths = lengths + 1;
  req.n_sequences = 1;
  CHECK_RC(lam_client_embed_tokens(client, &req, single, 384, &count), LAM_STATUS_OK);
  CHECK(memcmp(single, batch + 384, sizeof single) == 0);

  /* Too small a buffer: the required count comes back. */
  req.token_ids = ids;
  req.lengths = lengths;
  req.n_sequences = 2;
  count = 0;
  CHECK_RC(lam_client_embed_tokens(client, &req, batch, 384, &count), LAM_STATUS_BUFFER_TOO_SMALL);
  CHECK(count == 2 * 384);

  /* Out-of-vocabulary id: a verdict naming the problem. */
  {
    int32_t bad[] = {101, 99999999, 102};
    uint32_t n3 = 3;
    lam_embed_tokens_request b = LAM_EMBED_TOKENS_REQUEST_INIT;
    b.token_ids = bad;
    b.lengths = &n3;
    b.n_sequences = 1;
    CHECK_RC(lam_client_embed_tokens(client, &b, single, 384, &count), LAM_STATUS_TOKEN_OUT_OF_RANGE);
    CHECK(strlen(lam_client_last_error(client)) > 0);
    b.struct_size = 0;
    CHECK_RC(lam_client_embed_tokens(client, &b, single, 384, &count), LAM_STATUS_INVALID_ARG);
  }

  /* Zero-copy result. */
  CHECK_RC(lam_client_embed_tokens_result(client, &req, &res), LAM_STATUS_OK);
  CHECK(res.n_sequences == 2 && res.embedding_dim == 384 && res.data != NULL);
  if (res.data != NULL) CHECK(memcmp(res.data, batch, 384 * sizeof(float)) == 0);
  if (res.data != NULL) CHECK(memcmp(res.data + 384, single, sizeof single) == 0);
  lam_result_release(client, &res);
  CHECK(res.data == NULL);
  lam_result_release(client, &res); /* second release is a no-op */

  /* Asynchronous submit, poll, wait. */
  CHECK_RC(lam_client_submit_tokens(client, &req, &ticket), LAM_STATUS_OK);
  {
    lam_status p = lam_client_poll(client, ticket, batch, 2 * 384, &count);
    CHECK(p == LAM_STATUS_PENDING || p == LAM_STATUS_OK);
    if (p == LAM_STATUS_PENDING) CHECK_RC(lam_client_wait(client, ticket, 10000, batch, 2 * 384, &count), LAM_STATUS_OK);
  }
  CHECK(memcmp(batch + 384, single, sizeof single) == 0);
  CHECK_RC(lam_client_wait(client, ticket, 10, batch, 2 * 384, &count), LAM_STATUS_INVALID_ARG);

  /* UTF-8 text, tokenised by the daemon: NUL-terminated, async, and an invalid byte. */
  {
    const char* texts[] = {"This is a test", "hello"};
    const char* bad_texts[] = {"ok", "bad \xff"};
    lam_embed_text_request t = LAM_EMBED_TEXT_REQUEST_INIT;
    t.texts = texts;
    t.n_texts = 2;
    CHECK_RC(lam_client_embed_text(client, &t, batch, 2 * 384, &count), LAM_STATUS_OK);
    CHECK(count == 2 * 384);
    CHECK_RC(lam_client_submit_text(client, &t, &ticket), LAM_STATUS_OK);
    CHECK_RC(lam_client_wait(client, ticket, 10000, single, 384, &count), LAM_STATUS_BUFFER_TOO_SMALL);
    CHECK_RC(lam_client_wait(client, ticket, 10000, res_rows, 2 * 384, &count), LAM_STATUS_OK);
    CHECK(memcmp(res_rows, batch, sizeof res_rows) == 0);
    t.texts = bad_texts;
    CHECK_RC(lam_client_embed_text(client, &t, batch, 2 * 384, &count), LAM_STATUS_INVALID_UTF8);
    CHECK(strstr(lam_client_last_error(client), "text 1") != NULL);
  }

  CHECK_RC(lam_client_ping(client, 5000), LAM_STATUS_OK);

  /* Client-side counters: everything submitted was answered; one connection; size-prefixed. */
  {
    lam_client_stats s = LAM_CLIENT_STATS_INIT;
    lam_client_stats small = LAM_CLIENT_STATS_INIT;
    CHECK_RC(lam_client_get_stats(client, &s), LAM_STATUS_OK);
    CHECK(s.struct_size == sizeof s);
    CHECK(s.inflight == 0 && s.inflight_high_water >= 1);
    CHECK(s.requests_submitted >= 8 && s.requests_completed == s.requests_submitted);
    CHECK(s.requests_failed >= 2 && s.requests_failed < s.requests_completed); /* bad id, bad UTF-8 */
    CHECK(s.sequences_embedded == 11);
    CHECK(s.bytes_submitted > 0 && s.compute_us_total > 0);
    CHECK(s.connects == 1 && s.daemon_lost == 0);
    CHECK(s.arena_bytes > 0 && s.daemon_epoch == info.daemon_epoch);
    small.struct_size = 16; /* an older, shorter struct: nothing past it is written */
    small.requests_submitted = 777;
    CHECK_RC(lam_client_get_stats(client, &small), LAM_STATUS_OK);
    CHECK(small.struct_size == 16 && small.requests_submitted == 777 && small.inflight_high_water >= 1);
    small.struct_size = 0;
    CHECK_RC(lam_client_get_stats(client, &small), LAM_STATUS_INVALID_ARG);
    CHECK(lam_client_get_stats(NULL, &s) == LAM_STATUS_INVALID_ARG);
  }
  lam_client_close(client);
  CHECK(log_connected == 1);
  CHECK(log_debug >= 3);

  kill(lamd, SIGTERM);
  waitpid(lamd, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  if (failures == 0) printf("smoke: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
