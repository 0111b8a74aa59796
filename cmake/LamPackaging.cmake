# SPDX-License-Identifier: MIT
# Debian packages from the install components: `cpack -G DEB` in any build directory writes
#   lamd             lamd, lamctl, the systemd units, sysusers.d/tmpfiles.d, /etc/lamd/lamd.conf,
#                    man pages, bash completion (component daemon; LAM_BUILD_DAEMON only)
#   liblamclient0    liblamclient.so.0 (component runtime)
#   liblamclient-dev headers, the .so link, lamclient.pc, the CMake package (component dev)
# Library dependencies come from dpkg-shlibdeps; liblamclient0 gets a shlibs file.
set(CPACK_PACKAGE_NAME lam)
set(CPACK_PACKAGE_VENDOR "lamd developers")
set(CPACK_PACKAGE_CONTACT "lamd developers <lamd@example.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Each package's Description (CPACK_DEBIAN_<COMPONENT>_DESCRIPTION) starts with its own synopsis.
# CPackDeb prepends CPACK_PACKAGE_DESCRIPTION_SUMMARY to it unless the summary is CPack's
# built-in default, so it is set to exactly that default.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
# Installs with CMAKE_INSTALL_PREFIX=/usr and DESTDIR=<staging>, so that the install-time steps
# (cmake/LamInstallTime.cmake) see the packages' prefix: /etc/lamd, no RUNPATH, /usr paths.
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# lamctl needs liblamclient.so.0, which is in another package: let dpkg-shlibdeps find it here
# (the explicit dependency below says which package provides it).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(_lam_deb_version "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME liblamclient${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# A shlibs file for packages with a shared library (liblamclient0 only): minor releases only add
# symbols, so a program needs a library at least as new as the one it was built with.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/debian/liblamclient/triggers)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "client library of lamd (shared-memory sentence embeddings)
liblamclient.so connects a process to lamd, the host daemon that keeps a
sentence-embedding model resident on a GPU or the CPU, and exchanges token ids
or text and embeddings with it through a private shared-memory segment. C ABI;
used from C, C++, Go, Rust and Python.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME liblamclient-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "liblamclient${PROJECT_VERSION_MAJOR} (= ${_lam_deb_version})")
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_DEV_DESCRIPTION "client library of lamd - development files
Headers (lam/lam.h, the C API; lam/lam.hpp, C++ RAII helpers), the pkg-config
file lamclient.pc and the CMake package (find_package(lam), target
lam::client).")

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME lamd)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "liblamclient${PROJECT_VERSION_MAJOR} (= ${_lam_deb_version}), systemd | systemd-standalone-sysusers")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/lamd/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/lamd/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/lamd/postrm ${PROJECT_SOURCE_DIR}/packaging/debian/lamd/conffiles)
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_DAEMON_DESCRIPTION "shared-memory sentence-embedding daemon
lamd keeps a sentence-embedding model (LAM, or a BERT encoder such as
all-MiniLM-L6-v2) resident on a GPU or the CPU and serves embeddings to local
processes through shared memory, batching the requests of all clients.
Includes lamctl, the systemd units (lamd.service; lamd@.service, one daemon
per GPU) and the default configuration.")

# /usr/share/doc/<package>/: copyright and changelog.Debian.gz (Debian policy 12.5, 12.7).
set(LAM_DEB_RELEASE ${CPACK_DEBIAN_PACKAGE_RELEASE})
set(LAM_DEB_MAINTAINER ${CPACK_PACKAGE_CONTACT})
configure_file(${PROJECT_SOURCE_DIR}/packaging/debian/changelog.in ${PROJECT_BINARY_DIR}/packaging/changelog.Debian @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz
                   COMMAND gzip -9 -n -c ${PROJECT_BINARY_DIR}/packaging/changelog.Debian > ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz
                   DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.Debian VERBATIM)
add_custom_target(lam_deb_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz)
set(_lam_doc_packages runtime ${CPACK_DEBIAN_RUNTIME_PACKAGE_NAME} dev ${CPACK_DEBIAN_DEV_PACKAGE_NAME})
if(LAM_BUILD_DAEMON)
  list(APPEND _lam_doc_packages daemon ${CPACK_DEBIAN_DAEMON_PACKAGE_NAME})
endif()
while(_lam_doc_packages)
  list(POP_FRONT _lam_doc_packages _component _package)
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_package} COMPONENT ${_component})
endwhile()

set(CPACK_COMPONENTS_ALL runtime dev)
if(LAM_BUILD_DAEMON)
  list(PREPEND CPACK_COMPONENTS_ALL daemon)
endif()
include(CPack)
