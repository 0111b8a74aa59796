/* SPDX-License-Identifier: MIT */
/*
 * Built by tests/install against an *installed* liblamclient (pkg-config and find_package):
 *   embed_text SOCKET < lines
 * embeds each line of stdin through lamd and prints it as `lamctl embed --text` does (one JSON
 * array per line, %.9g), so the two outputs can be compared byte for byte. Exit 1 with the
 * status name and the library's detail on a failure (no daemon: DAEMON_UNAVAILABLE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lam/lam.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: embed_text SOCKET < lines\n");
    return 2;
  }
  if (lam_version_number() / 1000000u != LAM_VERSION_MAJOR) {
    fprintf(stderr, "liblamclient %s does not match the headers (%s)\n", lam_version_string(), LAM_VERSION_STRING);
    return 1;
  }
  lam_client_options opts;
  lam_client_options_init(&opts);
  opts.socket_path = argv[1];
  lam_client* client = NULL;
  lam_status rc = lam_client_open(&opts, &client);
  if (rc != LAM_STATUS_OK) {
    fprintf(stderr, "open: %s: %s\n", lam_status_str(rc), lam_client_last_error(client));
    lam_client_close(client);
    return 1;
  }
  uint32_t dim = 0;
  rc = lam_client_get_embedding_dim(client, &dim);
  float* row = rc == LAM_STATUS_OK ? malloc(sizeof(float) * dim) : NULL;
  char line[65536];
  while (rc == LAM_STATUS_OK && row != NULL && fgets(line, sizeof(line), stdin) != NULL) {
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    const char* text = line;
    lam_embed_text_request req;
    lam_embed_text_request_init(&req);
    req.texts = &text;
    req.lengths = &len;
    req.n_texts = 1;
    size_t n = 0;
    rc = lam_client_embed_text(client, &req, row, dim, &n);
    if (rc != LAM_STATUS_OK) break;
    for (uint32_t d = 0; d < dim; ++d) printf("%s%.9g", d == 0 ? "[" : ",", (double)row[d]);
    printf("]\n");
  }
  if (rc != LAM_STATUS_OK) fprintf(stderr, "embed: %s: %s\n", lam_status_str(rc), lam_client_last_error(client));
  free(row);
  lam_client_close(client);
  return rc == LAM_STATUS_OK ? 0 : 1;
}
