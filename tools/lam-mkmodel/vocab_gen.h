// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace lam::mkmodel {

// A BERT-uncased-style vocab.txt of exactly `size` lines: [PAD]=0, [unused0..98], [UNK]=100,
// [CLS]=101, [SEP]=102, [MASK]=103, more [unused], single characters, common English words,
// then generated word pieces and "##" continuations. Deterministic; all lines distinct.
std::string GenerateVocab(int size);

}  // namespace lam::mkmodel
