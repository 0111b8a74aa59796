# SPDX-License-Identifier: MIT
# cmake -DIN=<text file> -DOUT=<.inc> -P embed_source.cmake
# Writes the file's bytes as a comma-separated list of hex literals, to be included inside an
# array initialiser (no length limits, no escaping issues, byte-exact).
file(READ ${IN} _hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" _bytes "${_bytes}")
file(WRITE ${OUT}.tmp "// Generated from ${IN}; do not edit.\n${_bytes}\n")
file(RENAME ${OUT}.tmp ${OUT})
