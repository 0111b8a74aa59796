# SPDX-License-Identifier: MIT
# Run by `cmake --install` (install(CODE) in systemd/ and tools/lamctl/), not at configure time:
# the files that name install paths are written for the prefix actually installed to, so one
# build serves `cmake --install build --prefix DIR` (a self-contained, movable tree) and
# `cpack -G DEB` (prefix /usr: /etc, no RUNPATH).
#   LAM_STEP   units | conf | pkgconfig | rpath
# Input variables are set by the install(CODE) that includes this file; block() keeps what this
# file sets out of the rest of the install script.
block()
set(_prefix "${CMAKE_INSTALL_PREFIX}")
if(_prefix STREQUAL "/usr")
  set(_etc "/etc")
else()
  set(_etc "${_prefix}/etc")
endif()

if(LAM_STEP STREQUAL "units")
  # @CMAKE_INSTALL_FULL_SBINDIR@ and @CMAKE_INSTALL_FULL_SYSCONFDIR@ of the unit templates.
  set(CMAKE_INSTALL_FULL_SBINDIR "${_prefix}/${LAM_SBINDIR}")
  set(CMAKE_INSTALL_FULL_SYSCONFDIR "${_etc}")
  foreach(unit ${LAM_UNITS})
    configure_file(${LAM_UNIT_SRC_DIR}/${unit}.in ${LAM_STAGE_DIR}/${unit} @ONLY)
    file(INSTALL DESTINATION "${_prefix}/${LAM_UNITDIR}" TYPE FILE FILES ${LAM_STAGE_DIR}/${unit})
  endforeach()
elseif(LAM_STEP STREQUAL "conf")
  file(INSTALL DESTINATION "${_etc}/lamd" TYPE FILE FILES ${LAM_CONF})
elseif(LAM_STEP STREQUAL "pkgconfig")
  set(CMAKE_INSTALL_PREFIX "${_prefix}")
  configure_file(${LAM_PC_IN} ${LAM_STAGE_DIR}/lamclient.pc @ONLY)
  file(INSTALL DESTINATION "${_prefix}/${LAM_PC_DIR}" TYPE FILE FILES ${LAM_STAGE_DIR}/lamclient.pc)
elseif(LAM_STEP STREQUAL "rpath")
  # A program in a system prefix finds liblamclient through the default search path and must
  # carry no RUNPATH (Debian policy); elsewhere it keeps $ORIGIN/../lib.
  if(_prefix STREQUAL "/usr")
    file(RPATH_REMOVE FILE "$ENV{DESTDIR}${_prefix}/${LAM_PROGRAM}")
  endif()
else()
  message(FATAL_ERROR "LamInstallTime.cmake: unknown LAM_STEP '${LAM_STEP}'")
endif()
endblock()
