# SPDX-License-Identifier: MIT
# Install rules of the client library's development files (component dev): the public headers
# (the generated lam_version.h among them), lamclient.pc for pkg-config (cgo, Rust build.rs) and
# the CMake package: find_package(lam) gives the imported target lam::client.
include(CMakePackageConfigHelpers)

install(FILES ${PROJECT_SOURCE_DIR}/include/lam/lam.h ${PROJECT_SOURCE_DIR}/include/lam/lam_status.h
              ${PROJECT_SOURCE_DIR}/include/lam/lam.hpp ${PROJECT_BINARY_DIR}/include/lam/lam_version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lam COMPONENT dev)

# prefix= is that of the install (cmake/LamInstallTime.cmake), not the configured one.
install(CODE "set(LAM_STEP pkgconfig)
              set(LAM_PC_IN \"${PROJECT_SOURCE_DIR}/client/lamclient.pc.in\")
              set(CMAKE_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
              set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
              set(PROJECT_VERSION ${PROJECT_VERSION})
              set(LAM_STAGE_DIR \"${PROJECT_BINARY_DIR}/install-time\")
              set(LAM_PC_DIR \"${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
              include(\"${PROJECT_SOURCE_DIR}/cmake/LamInstallTime.cmake\")" COMPONENT dev)

set(LAM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/lam)
install(EXPORT lamTargets NAMESPACE lam:: DESTINATION ${LAM_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/lamConfig.cmake.in ${PROJECT_BINARY_DIR}/lamConfig.cmake
                              INSTALL_DESTINATION ${LAM_CMAKE_DIR})
# SOVERSION is the major: any 0.x library serves a program built against 0.y with y <= x.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lamConfigVersion.cmake COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/lamConfig.cmake ${PROJECT_BINARY_DIR}/lamConfigVersion.cmake
        DESTINATION ${LAM_CMAKE_DIR} COMPONENT dev)
