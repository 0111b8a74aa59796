// SPDX-License-Identifier: MIT
// An engine::Engine that computes through a running lamd (liblamclient), so that
// `lamctl embed --socket PATH` reuses the in-process command's I/O unchanged.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "engine/engine.h"

namespace lam::ctl {

Result<std::unique_ptr<engine::Engine>> OpenDaemonEngine(const std::string& socket);

// Embeds UTF-8 texts through lamd's own tokeniser (lam_client_embed_text) into
// texts.size() * embedding_dim floats at `out`. `eng` must come from OpenDaemonEngine.
Status DaemonEmbedTexts(engine::Engine& eng, std::span<const std::string> texts, float* out);

}  // namespace lam::ctl
