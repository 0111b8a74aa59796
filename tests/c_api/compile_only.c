/* SPDX-License-Identifier: MIT */
/* lam.h must compile as strict C99 with every warning as an error (STYLE.md 1). */
#include "lam/lam.h"

int main(void) {
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  lam_embed_tokens_request r = LAM_EMBED_TOKENS_REQUEST_INIT;
  lam_result res = LAM_RESULT_INIT;
  lam_model_info info = LAM_MODEL_INFO_INIT;
  (void)o;
  (void)r;
  (void)res;
  (void)info;
  return LAM_STATUS_OK;
}
