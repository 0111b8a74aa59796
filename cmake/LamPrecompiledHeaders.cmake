# SPDX-License-Identifier: MIT
# Precompiled headers for lamd's C++ targets: the standard library, nlohmann/json and spdlog
# (and GoogleTest for the tests) are parsed once per PCH instead of once per translation unit.
# g++ spends ~5 s of CPU on <nlohmann/json.hpp> alone and ~2.5 s on <gtest/gtest.h> at -O2, on
# every one of ~150 units; CI builds the tree three times on two cores (release, ASan, TSan).
#
# Default: on, except when a compiler launcher (ccache) is set, as on developers' machines:
# ccache will not cache a unit built with a PCH unless its sloppiness is configured for it, and
# there the cache saves more than the PCH does. -DLAM_PCH=ON|OFF decides either way.
if(CMAKE_CXX_COMPILER_LAUNCHER)
  set(_lam_pch_default OFF)
else()
  set(_lam_pch_default ON)
endif()
option(LAM_PCH "Precompiled headers for the daemon core, tools and tests" ${_lam_pch_default})

set(LAM_PCH_HEADERS
    <algorithm> <atomic> <chrono> <condition_variable> <cstdint> <cstring> <functional> <map>
    <memory> <mutex> <optional> <string> <string_view> <thread> <unordered_map> <utility>
    <vector> <nlohmann/json.hpp> <spdlog/spdlog.h>)
set(LAM_PCH_TEST_HEADERS ${LAM_PCH_HEADERS} <gtest/gtest.h> <gmock/gmock.h>)

# Test code itself is compiled without optimisation (after the build type's -O2/-O3, so it
# wins): what a test times or computes runs in lam_daemon_core, built as the build type says.
# The tests whose own code computes references (float64 loops: LAM_TESTS_COMPUTING_REFERENCES in
# tests/CMakeLists.txt) get -O1. Measured per unit: g++ 12 with the PCH, tokenizer_test 29.0 s at
# -O3, 16.4 s at -O1; clang-14 ASan+UBSan (no PCH), tokenizer_test 21.8 s at -O2, 10.0 s at -O0,
# lamd_clients_test 18.9 s vs 8.7 s.
set(LAM_TEST_COMPILE_OPTIONS -O0)
set(LAM_TEST_REFERENCE_COMPILE_OPTIONS -O1)

# lam_precompile_headers(<target> [TEST]): gives <target> its own PCH of the common headers
# (C++ sources only; the target's C sources are compiled as before).
function(lam_precompile_headers target)
  if(NOT LAM_PCH)
    return()
  endif()
  set(headers ${LAM_PCH_HEADERS})
  if(ARGV1 STREQUAL "TEST")
    set(headers ${LAM_PCH_TEST_HEADERS})
  endif()
  list(TRANSFORM headers PREPEND "$<$<COMPILE_LANGUAGE:CXX>:")
  list(TRANSFORM headers APPEND ">")
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()

# lam_reuse_precompiled_headers(<target> <from>): <target> uses <from>'s PCH (both must be
# compiled with the same flags, definitions and include directories).
function(lam_reuse_precompiled_headers target from)
  if(LAM_PCH)
    target_precompile_headers(${target} REUSE_FROM ${from})
  endif()
endfunction()
