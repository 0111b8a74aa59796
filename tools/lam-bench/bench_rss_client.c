/* SPDX-License-Identifier: MIT */
/*
 * lam-bench-rss-client LIBLAMCLIENT SOCKET: what liblamclient adds to a process's resident memory.
 * Not linked against the library: it reads /proc/self/status, then dlopens LIBLAMCLIENT and reads
 * it again after each step of a client's life. Prints one line per step:
 *   STEP RSS_KIB FILE_KIB ANON_KIB SHMEM_KIB
 * (the process's totals; lam-bench subtracts the "start" line). Steps: start, loaded, opened,
 * embedded-1x16, embedded-64x16 (a streamed answer), closed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lam/lam.h"

static long Field(const char* status, const char* name) {
  const char* p = strstr(status, name);
  return p != NULL ? atol(p + strlen(name)) : -1;
}

static void Report(const char* step) {
  char buf[8192];
  FILE* f = fopen("/proc/self/status", "r");
  size_t n = 0;
  if (f != NULL) {
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
  }
  buf[n] = '\0';
  printf("%s %ld %ld %ld %ld\n", step, Field(buf, "VmRSS:"), Field(buf, "RssFile:"), Field(buf, "RssAnon:"),
         Field(buf, "RssShmem:"));
}

#define RESOLVE(name) ((void)(name##_p = (name##_t)dlsym(lib, #name)), name##_p != NULL)

typedef lam_status (*lam_client_open_t)(const lam_client_options*, lam_client**);
typedef void (*lam_client_close_t)(lam_client*);
typedef lam_status (*lam_client_embed_tokens_t)(lam_client*, const lam_embed_tokens_request*, float*, size_t,
                                                size_t*);

int main(int argc, char** argv) {
  static int32_t ids[64 * 16];
  static uint32_t lengths[64];
  static float out[64 * 384];
  lam_client_open_t lam_client_open_p;
  lam_client_close_t lam_client_close_p;
  lam_client_embed_tokens_t lam_client_embed_tokens_p;
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
  lam_client* c = NULL;
  size_t count = 0;
  void* lib;
  int i;
  if (argc != 3) return 2;
  /* The caller's own buffers are resident before the baseline: only the library's share counts. */
  memset(ids, 0, sizeof(ids));
  memset(lengths, 0, sizeof(lengths));
  memset(out, 0, sizeof(out));
  Report("start");
  lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL || !RESOLVE(lam_client_open) || !RESOLVE(lam_client_close) || !RESOLVE(lam_client_embed_tokens)) {
    fprintf(stderr, "lam-bench-rss-client: %s\n", dlerror());
    return 1;
  }
  Report("loaded");
  o.socket_path = argv[2];
  if (lam_client_open_p(&o, &c) != LAM_STATUS_OK) return 1;
  Report("opened");
  for (i = 0; i < 64 * 16; ++i) ids[i] = (i % 16 == 0) ? 101 : (i % 16 == 15) ? 102 : 1000 + (i * 7) % 20000;
  for (i = 0; i < 64; ++i) lengths[i] = 16;
  req.token_ids = ids;
  req.lengths = lengths;
  req.n_sequences = 1;
  if (lam_client_embed_tokens_p(c, &req, out, 384, &count) != LAM_STATUS_OK) return 1;
  Report("embedded-1x16");
  req.n_sequences = 64;
  if (lam_client_embed_tokens_p(c, &req, out, 64 * 384, &count) != LAM_STATUS_OK) return 1;
  Report("embedded-64x16");
  lam_client_close_p(c);
  Report("closed");
  return 0;
}
