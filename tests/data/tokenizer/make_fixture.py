#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates the tokenizer reference data for tests/unit/tokenizer_test.cpp, once, with Hugging
Face `tokenizers` (the library all-MiniLM-L6-v2 and LAM-base-v1 are served with) as the oracle.

  pip install tokenizers==0.23.3
  tools/models/fetch-minilm.sh
  python3 tests/data/tokenizer/make_fixture.py [MODEL_DIR]

Writes, next to this script:
  sentences.jsonl   one JSON object per line: {"text": str, "ids": [int], "max_length": int?}
                    (first line: {"meta": {...}}); varied sentences and Unicode edge cases.
  codepoints.txt    every Unicode scalar value c, tokenized as the text  c + " a" + c + "a";
                    run-length encoded: "FIRST LAST id id ..." (hex code points, decimal ids) for
                    each run of consecutive code points with the same ids.
Deterministic: a fixed seed; re-running with the same tokenizers version gives the same files.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "all-MiniLM-L6-v2")

tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
tok.no_padding()
tok.no_truncation()
with open(os.path.join(MODEL, "vocab.txt"), encoding="utf-8") as f:
    vocab = [line.rstrip("\n") for line in f]
# The oracle must use the same vocabulary the C++ tokenizer loads.
assert tok.get_vocab_size() == len(vocab), (tok.get_vocab_size(), len(vocab))
for i, t in enumerate(vocab):
    assert tok.token_to_id(t) == i, (i, t)


def encode(text, max_length=None):
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length)
    ids = tok.encode(text).ids
    tok.no_truncation()
    return ids


rng = random.Random(20261122)

# ---- hand-written cases -------------------------------------------------------------------------
HAND = [
    "", " ", "\t\n\r ", "Hello, world!", "hello world", "HELLO WORLD", "Hello   world\t\tagain\n",
    "The quick brown fox jumps over the lazy dog.", "I can't believe it's not butter!",
    "unaffable", "unbelievably", "tokenization", "Transformers are great!!!",
    "It costs $1,234.56 (approx. €1.100,00) — or ¥130,000.", "3.14159 2.71828 1e-10 0x1F 1,000,000",
    "https://example.com/path?query=1&x=%20y#frag", "mailto:someone@example.org", "C:\\Users\\me\\file.txt",
    "e-mail: john.doe+tag@sub.example.co.uk", "<html><body class=\"x\">hi</body></html>",
    "{\"json\": [1, 2, 3], \"k\": null}", "def f(x): return x**2 # comment", "a+b=c; d-e*f/g%h^i|j~k`l",
    "...!!!???,,,;;;:::---___", "«quotes» „low“ ‘single’ “double” ‹angle›", "¿Qué tal? ¡Muy bien!",
    "Café résumé naïve coöperate façade jalapeño Ångström", "CAFÉ RÉSUMÉ NAÏVE", "crème brûlée à la mode",
    "Straße STRASSE straße ß ẞ", "Ørsted Æsir œuvre Œ Þór ðe łódź Łódź", "İstanbul ıstanbul ISTANBUL i̇ I İ ı",
    "Diyarbakır'da İzmir'de", "Ελληνικά: Καλημέρα κόσμε! ΟΔΟΣ οδος ὁδός", "Σίσυφος ΣΊΣΥΦΟΣ σς",
    "Русский текст: Привет, мир! ЁЖИК ёжик Й й", "Українська: Ґ ґ Є є Ї ї", "Ⅻ ⅻ ① ㈱ ﬁ ﬀ ǅ ǆ Ǆ",
    "日本語のテキストです。東京は大きい都市です。", "中文句子：我爱自然语言处理。", "한국어 문장입니다. 안녕하세요!",
    "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３！", "半角ｶﾀｶﾅ and ひらがな and カタカナ", "漢字かな混じり文",
    "CJK ext: 㐀㐁 𠀀𠀁 𪜀 𫝀 𫠠 𬺰 豈 更 丽 𪘀", "Compatibility 豈更車", "Thai: ภาษาไทย สวัสดีครับ",
    "Arabic: مرحبا بالعالم العربية", "Hebrew: שלום עולם עִבְרִית", "Hindi: नमस्ते दुनिया हिन्दी",
    "Bengali: বাংলা ভাষা", "Tamil: தமிழ் மொழி", "Georgian: ქართული ენა", "Armenian: Հայերեն Լեզու",
    "Amharic: ሰላም ዓለም", "Mongolian: ᠮᠣᠩᠭᠣᠯ", "Tibetan: བོད་ཡིག", "Khmer: ភាសាខ្មែរ", "Lao: ພາສາລາວ",
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 ❤️ 🇫🇷 🏳️‍🌈 🥲 🫠", "smile:) :-( <3 ¯\\_(ツ)_/¯",
    "zero\u200bwidth\u200cjoin\u200dners\ufeffbom\u2060wj", "soft\u00adhyphen", "bidi\u202etext\u202c\u200e\u200f",
    "nul\x00char", "ctrl\x01\x02\x03\x1b[0m\x7f\x80\x9f", "form\x0cfeed\x0bvtab", "nel\x85line",
    "line\u2028sep\u2029para", "nbsp\u00a0thin\u2009ideo\u3000space\u202fnarrow\u205fmath", "ogham\u1680space",
    "replacement \ufffd char", "private \ue000\uf8ff\U000f0000\U0010fffd use", "nonchar \ufdd0\ufffe\uffff",
    "unassigned \u0378 \U000e0000 \U0003ffff", "tags \U000e0041\U000e0042 \U000e007f",
    "mongolian\u180evowel", "combining: a\u0301 e\u0300 o\u0308 n\u0303 c\u0327 u\u030a\u0301", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "ﬃ ligature ﬄ ﬆ", "Ǳ ǲ ǳ", "ΐ ΰ ᾳ ᾼ ῳ ῼ", "Kelvin K Ohm Ω Angstrom Å", "µ micro μ mu", "ſ long s",
    "ᏸ Cherokee Ᏸ", "𐐀 Deseret 𐐨", "Ⓐ circled ⓐ", "🄰 squared", "𝐀𝐁𝐂 math bold 𝒜", "Ⅰ Ⅱ Ⅲ roman",
    "a" * 100, "a" * 101, "b" * 99 + "é", "é" * 101, "x" * 250, "supercalifragilisticexpialidocious" * 3,
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "[CLS] [SEP] [PAD] [UNK] [MASK]", "hello[MASK]world", "[cls] [Sep] [ MASK ]", "[[CLS]]", "[CLS[SEP]]",
    "[MASK", "MASK]", "[M\x00ASK]", "[MASK]\u0301", "##", "##ing", "# ## ###", "[UNK]x",
    "word\u0301s with late accents", "tab\tseparated\tvalues\n1\t2\t3", "windows\r\nline\r\nendings",
    "   leading and trailing   ", "multiple     spaces     here", "a.b.c", "U.S.A.", "e.g., i.e.,",
    "don't won't shouldn't y'all'd've", "rock'n'roll", "C++ C# F# .NET Node.js", "100% 50¢ £20 ₹500 ₿1",
    "2026-11-22T15:12:31Z", "+1 (555) 123-4567", "192.168.0.1:8080", "v1.2.3-rc.1+build.5",
    "¹²³ ⁴⁵⁶ ₁₂₃ ½ ¼ ¾", "∑∏∫√∞≠≤≥ ±×÷", "→←↑↓⇒⇔", "©®™ §¶†‡•…‰′″", "‐‑‒–—―", "⸘⸮⸻⸼", "٪ ٫ ٬ ، ؛ ؟",
    "。、「」『』【】〔〕・ー〜", "।॥", "჻", "፡።፣", "᙮", "᠂᠃", "‿⁀⁔", "﹏＿＿", "꙳", "\u166d", "\u2e43\u2e44",
    "\u061d \u0890\u0891 \u08e2 \U000110cd", "\u1df6\u1df9 \u0898 \U00011f00", "\U0001f972 \U0001fae0",
    "ǅungla ǈ ǋ", "ꭰ ꭱ Cherokee small", "ᲀ ᲈ Cyrillic ext-C", "Ა Georgian Mtavruli", "Ꞑ ꞑ Ꞻ ꞻ",
]

# ---- generated cases ----------------------------------------------------------------------------
words = [w for w in vocab if w.isascii() and w.isalpha() and not w.startswith("##") and len(w) > 1]
subwords = [w[2:] for w in vocab if w.startswith("##") and w[2:].isalpha()]
nonascii_vocab = [w for w in vocab if not w.isascii() and not w.startswith("##") and not w.startswith("[")]
PUNCT = list(".,;:!?-()[]{}\"'`~@#$%^&*_+=|\\/<>") + list("¡¿«»“”‘’—–…·•§¶")
SCRIPT_RANGES = [
    (0x00A0, 0x024F), (0x0250, 0x02FF), (0x0300, 0x036F), (0x0370, 0x03FF), (0x0400, 0x052F),
    (0x0530, 0x058F), (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0900, 0x097F), (0x0E00, 0x0E7F),
    (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x1E00, 0x1FFF),
    (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2190, 0x21FF), (0x2200, 0x22FF),
    (0x2460, 0x24FF), (0x2C00, 0x2E7F), (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA640, 0xA6FF), (0xA720, 0xA7FF), (0xAB30, 0xABBF), (0xAC00, 0xD7A3), (0xE000, 0xE0FF),
    (0xF900, 0xFAFF), (0xFB00, 0xFB4F), (0xFE00, 0xFE6F), (0xFF00, 0xFFFF), (0x10400, 0x1044F),
    (0x1D400, 0x1D7FF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF), (0x2B700, 0x2CEAF), (0xE0000, 0xE007F),
    (0xF0000, 0xF00FF), (0x0000, 0x00A0),
]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", ""]


def rand_char():
    lo, hi = rng.choice(SCRIPT_RANGES)
    c = rng.randint(lo, hi)
    while 0xD800 <= c <= 0xDFFF:
        c = rng.randint(lo, hi)
    return chr(c)


def vary_case(w):
    r = rng.random()
    if r < 0.2:
        return w.upper()
    if r < 0.4:
        return w.capitalize()
    if r < 0.45:
        return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in w)
    return w


def accent(w):
    marks = ["\u0301", "\u0300", "\u0308", "\u0302", "\u0303", "\u0327", "\u030c", "\u0323"]
    i = rng.randrange(len(w) + 1)
    return w[:i] + rng.choice(marks) + w[i:]


def sentence():
    parts = []
    for _ in range(rng.randint(1, 25)):
        r = rng.random()
        if r < 0.55:
            w = vary_case(rng.choice(words))
        elif r < 0.62:
            w = rng.choice(words) + rng.choice(subwords)
        elif r < 0.70:
            w = accent(vary_case(rng.choice(words)))
        elif r < 0.78:
            w = rng.choice(nonascii_vocab)
        elif r < 0.85:
            w = str(rng.randint(0, 10 ** rng.randint(1, 12)))
        elif r < 0.93:
            w = "".join(rand_char() for _ in range(rng.randint(1, 6)))
        else:
            w = "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4)))
        parts.append(w)
        parts.append(rng.choice(SPACES) if rng.random() < 0.9 else rng.choice(PUNCT))
    return "".join(parts)


def soup():
    return "".join(rand_char() if rng.random() < 0.7 else rng.choice(SPACES + PUNCT)
                   for _ in range(rng.randint(1, 60)))


def long_word():
    n = rng.choice([98, 99, 100, 101, 102, 150, 300])
    alphabet = rng.choice(["abcdefghij", "éèêàç", "日本", "αβγ", "😀😃", "ab\u0301"])
    return "".join(rng.choice(alphabet) for _ in range(n))


cases = [(t, None) for t in HAND]
cases += [(sentence(), None) for _ in range(600)]
cases += [(soup(), None) for _ in range(300)]
cases += [(long_word() + " " + sentence(), None) for _ in range(30)]
# Very long texts, with and without truncation (keeping [SEP] last).
for k in range(40):
    text = " ".join(sentence() for _ in range(rng.randint(10, 60)))
    cases.append((text, None if k % 4 == 0 else rng.choice([2, 3, 8, 16, 128, 256, 512])))
for t in HAND[:60]:
    cases.append((t, rng.choice([2, 3, 4, 5, 7, 128])))

with open(os.path.join(HERE, "sentences.jsonl"), "w", encoding="utf-8") as f:
    meta = {"oracle": f"tokenizers {tokenizers.__version__}", "model": "all-MiniLM-L6-v2 tokenizer.json",
            "count": len(cases)}
    f.write(json.dumps({"meta": meta}) + "\n")
    for text, max_length in cases:
        rec = {"text": text, "ids": encode(text, max_length)}
        if max_length is not None:
            rec["max_length"] = max_length
        f.write(json.dumps(rec, ensure_ascii=True) + "\n")

# ---- every scalar value --------------------------------------------------------------------------
cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
texts = [f"{chr(c)} a{chr(c)}a" for c in cps]
encs = tok.encode_batch(texts, add_special_tokens=True)
runs = []
for c, e in zip(cps, encs):
    ids = e.ids
    if runs and runs[-1][1] + 1 == c and runs[-1][2] == ids:
        runs[-1][1] = c
    elif runs and runs[-1][1] == 0xD7FF and c == 0xE000 and runs[-1][2] == ids:
        runs[-1][1] = c  # a run may span the surrogate gap
    else:
        runs.append([c, c, ids])
with open(os.path.join(HERE, "codepoints.txt"), "w", encoding="ascii") as f:
    f.write(f"# tokenizers {tokenizers.__version__}; text per code point c: c + ' a' + c + 'a'\n")
    for a, b, ids in runs:
        f.write(f"{a:X} {b:X} " + " ".join(map(str, ids)) + "\n")
print(f"{len(cases)} sentences, {len(runs)} code-point runs")
