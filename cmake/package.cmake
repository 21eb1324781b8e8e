# Install layout and the Debian package. `cmake --install` puts the binaries, the Web App, the man
# pages, the systemd units and an example config where Debian expects them; `cpack` in a build tree
# makes shadowlink_VERSION_ARCH.deb (tests/e2e/package.sh installs, runs and purges it).
include(GNUInstallDirs)

install(TARGETS shadowlinkd shadowlink shadowlink-device RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The UMS finds these beside its binary (BINDIR/../share/shadowlink/webapp).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/services/ums/webapp/ DESTINATION ${CMAKE_INSTALL_DATADIR}/shadowlink/webapp)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/shadowlinkd.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/shadowlink-device.service DESTINATION lib/systemd/user)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/shadowlinkd.json DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/shadowlink)

# Man pages made from the binaries' own --help and --version, so they cannot drift apart.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(MAN_DIR ${PROJECT_BINARY_DIR}/man)
  function(shadowlink_man_page target section summary)
    add_custom_command(OUTPUT ${MAN_DIR}/${target}.${section}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${MAN_DIR}
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section ${section} --name ${summary}
              --output ${MAN_DIR}/${target}.${section} $<TARGET_FILE:${target}>
      DEPENDS ${target} VERBATIM)
  endfunction()
  shadowlink_man_page(shadowlinkd 8 "shadowlink server: UMS, ICG gateway and device agent in one process")
  shadowlink_man_page(shadowlink 1 "shadowlink console: list devices, shadow a device's screen, read the audit trail")
  add_custom_target(manpages ALL DEPENDS ${MAN_DIR}/shadowlinkd.8 ${MAN_DIR}/shadowlink.1)
  install(FILES ${MAN_DIR}/shadowlinkd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
  install(FILES ${MAN_DIR}/shadowlink.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME shadowlink)
set(CPACK_PACKAGE_VENDOR "shadowlink")
set(CPACK_PACKAGE_CONTACT "shadowlink maintainers <shadowlink@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "secure screen shadowing of managed thin clients (UMS, ICG gateway, device agent, console)")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Library dependencies from the binaries (dpkg-shlibdeps); adduser for the service user. wolfSSL is
# linked statically in the optimized build: a wolfSSL security fix reaches it by rebuilding the
# package against the updated libwolfssl-dev.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
if(SHADOWLINK_WOLFSSL STREQUAL "optimized")
  execute_process(COMMAND dpkg-query -W -f=\${Version} libwolfssl-dev OUTPUT_VARIABLE wolfssl_deb_version ERROR_QUIET)
  set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "UMS server, ICG gateway and device agent (shadowlinkd), the console (shadowlink) and the Web App.
TLS is wolfSSL ${wolfssl_deb_version} built from Debian's source with AES-NI and linked statically:
rebuild this package when Debian publishes a wolfSSL fix.")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "novnc")
# The console's `recording export` runs ffmpeg for video; without it, it writes PNG frames.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "ffmpeg")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)  # the build's -g1 debug info stays in the build tree
include(CPack)
