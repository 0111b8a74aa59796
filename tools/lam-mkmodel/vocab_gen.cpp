// SPDX-License-Identifier: MIT
#include "vocab_gen.h"

#include <set>
#include <vector>

namespace lam::mkmodel {
namespace {

// A few hundred frequent English words so that tokenizer tests on plain text find whole words.
constexpr const char* kWords[] = {
    "the", "of", "and", "in", "to", "was", "he", "is", "as", "for", "on", "with", "that", "it",
    "his", "by", "at", "from", "her", "she", "you", "had", "an", "were", "but", "be", "this",
    "are", "not", "my", "they", "one", "which", "or", "have", "him", "me", "first", "all",
    "also", "their", "has", "up", "who", "out", "been", "when", "after", "there", "into", "new",
    "two", "its", "time", "would", "no", "what", "about", "said", "we", "over", "then", "other",
    "so", "more", "can", "if", "like", "back", "them", "only", "some", "could", "where", "just",
    "during", "before", "do", "made", "school", "through", "than", "now", "years", "most",
    "world", "may", "between", "down", "well", "three", "year", "while", "will", "later", "city",
    "under", "around", "did", "such", "being", "used", "state", "people", "part", "know",
    "these", "university", "many", "any", "how", "because", "day", "way", "film", "family",
    "game", "good", "work", "life", "house", "water", "number", "music", "team", "name", "war",
    "end", "line", "long", "great", "high", "right", "left", "small", "large", "old", "young",
    "man", "woman", "men", "women", "child", "children", "night", "home", "place", "country",
    "model", "embedding", "sentence", "language", "text", "word", "token", "search", "query",
    "document", "vector", "memory", "server", "client", "data", "fast", "slow", "cat", "dog",
    "sat", "mat", "quick", "brown", "fox", "jumps", "lazy", "hello", "world", "test", "example",
    "question", "answer", "book", "car", "tree", "sun", "moon", "star", "blue", "red", "green",
    "light", "dark", "happy", "sad", "run", "walk", "read", "write", "open", "close", "big",
};

constexpr const char* kOnsets[] = {"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r",
                                   "s", "t", "v", "w", "z", "br", "ch", "st", "tr", "sh"};
constexpr const char* kVowels[] = {"a", "e", "i", "o", "u", "ai", "ea", "ou"};
constexpr const char* kCodas[] = {"", "n", "r", "s", "t", "l", "ng", "st"};

}  // namespace

std::string GenerateVocab(int size) {
  std::vector<std::string> lines;
  std::set<std::string> seen;
  auto add = [&](const std::string& t) {
    if (static_cast<int>(lines.size()) < size && seen.insert(t).second) lines.push_back(t);
  };
  add("[PAD]");
  for (int i = 0; i < 99; ++i) add("[unused" + std::to_string(i) + "]");
  add("[UNK]");
  add("[CLS]");
  add("[SEP]");
  add("[MASK]");
  for (int i = 99; i < 994; ++i) add("[unused" + std::to_string(i) + "]");
  for (char c = '!'; c <= '~'; ++c) {
    if (c >= 'A' && c <= 'Z') continue;  // uncased
    add(std::string(1, c));
  }
  for (char c = '0'; c <= '9'; ++c) add(std::string("##") + c);
  for (char c = 'a'; c <= 'z'; ++c) add(std::string("##") + c);
  for (const char* w : kWords) add(w);
  // Syllable combinations, one and two syllables, as words and as continuations.
  std::vector<std::string> syllables;
  for (const char* o : kOnsets) {
    for (const char* v : kVowels) {
      for (const char* c : kCodas) syllables.push_back(std::string(o) + v + c);
    }
  }
  for (const auto& s : syllables) {
    add(s);
    add("##" + s);
  }
  for (size_t i = 0; static_cast<int>(lines.size()) < size && i < syllables.size(); ++i) {
    for (size_t j = 0; static_cast<int>(lines.size()) < size && j < syllables.size(); ++j) {
      add(syllables[i] + syllables[j]);
      add("##" + syllables[i] + syllables[j]);
    }
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace lam::mkmodel
