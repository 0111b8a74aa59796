/* SPDX-License-Identifier: MIT */
/*
 * lam-bench-ipc-client: the client process of lam-bench's ipc suite (pure C, liblamclient only).
 *   exit SOCKET              exit 0 at once: what loading liblamclient costs a new process
 *   cold SOCKET              open, embed one 16-token sentence, close, exit 0; prints the
 *                            daemon's compute and queue time for it (us, from lam_client_get_stats)
 *   ping SOCKET N            N ring round trips; prints one latency per line (ns); N = 0: open,
 *                            close, exit (a new process's cost without compute)
 *   open SOCKET N            N more lam_client_open + lam_client_close in this process; prints
 *                            one latency per line (ns): connect + hello + map, without exec
 *   load SOCKET SECONDS LEN  embeds 1xLEN requests (4 in flight) for SECONDS; prints sequences
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lam/lam.h"

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  lam_client* c = NULL;
  int32_t ids[512];
  uint32_t len = 16;
  float out[384];
  size_t n = 0;
  int i;
  lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
  if (argc < 3) return 2;
  if (strcmp(argv[1], "exit") == 0) return 0;
  o.socket_path = argv[2];
  if (lam_client_open(&o, &c) != LAM_STATUS_OK) {
    fprintf(stderr, "open: %s\n", lam_client_last_error(c));
    return 1;
  }
  for (i = 0; i < 512; ++i) ids[i] = 1000 + i * 7;
  ids[0] = 101;
  req.token_ids = ids;
  req.lengths = &len;
  req.n_sequences = 1;
  if (strcmp(argv[1], "cold") == 0) {
    ids[15] = 102;
    lam_client_stats stats = LAM_CLIENT_STATS_INIT;
    if (lam_client_embed_tokens(c, &req, out, 384, &n) != LAM_STATUS_OK) return 1;
    if (lam_client_get_stats(c, &stats) != LAM_STATUS_OK) return 1;
    printf("%llu %llu\n", (unsigned long long)stats.compute_us_total, (unsigned long long)stats.queue_us_total);
  } else if (strcmp(argv[1], "ping") == 0 && argc == 4) {
    long count = atol(argv[3]);
    for (i = 0; i < count; ++i) {
      long long t0 = now_ns();
      if (lam_client_ping(c, 0) != LAM_STATUS_OK) return 1;
      printf("%lld\n", now_ns() - t0);
    }
  } else if (strcmp(argv[1], "open") == 0 && argc == 4) {
    long count = atol(argv[3]);
    for (i = 0; i < count; ++i) {
      lam_client* again = NULL;
      long long t0 = now_ns();
      lam_status st = lam_client_open(&o, &again);
      lam_client_close(again);
      if (st != LAM_STATUS_OK) return 1;
      printf("%lld\n", now_ns() - t0);
    }
  } else if (strcmp(argv[1], "load") == 0 && argc == 5) {
    long long end = now_ns() + (long long)(atof(argv[3]) * 1e9);
    long done = 0;
    lam_ticket t[4];
    len = (uint32_t)atoi(argv[4]);
    if (len < 2 || len > 512) return 2;
    ids[len - 1] = 102;
    for (i = 0; i < 4; ++i) lam_client_submit_tokens(c, &req, &t[i]);
    while (now_ns() < end) {
      for (i = 0; i < 4; ++i) {
        if (lam_client_wait(c, t[i], 0, out, 384, &n) != LAM_STATUS_OK) return 1;
        ++done;
        if (lam_client_submit_tokens(c, &req, &t[i]) != LAM_STATUS_OK) return 1;
      }
    }
    for (i = 0; i < 4; ++i) lam_client_wait(c, t[i], 0, out, 384, &n);
    printf("%ld\n", done);
  } else {
    return 2;
  }
  lam_client_close(c);
  return 0;
}
