# wolfSSL, in one of two builds (README, "Dependencies"):
#   optimized (default on x86-64): Debian's own source package built with the cipher assembly
#             (scripts/build-wolfssl), linked statically by full path with the built tree's options.h;
#   system:   Debian's shared libwolfssl as installed by libwolfssl-dev.
# Either way the target is `wolfssl_lib`, and WOLFSSL_INCLUDEDIR holds wolfssl/options.h.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(default_wolfssl optimized)
else()
  set(default_wolfssl system)  # the assembly options exist for x86-64 only
endif()
set(SHADOWLINK_WOLFSSL ${default_wolfssl} CACHE STRING "wolfSSL build: optimized (Debian source with AES-NI/AVX2, static) or system (Debian's shared library)")
set_property(CACHE SHADOWLINK_WOLFSSL PROPERTY STRINGS optimized system)
set(SHADOWLINK_WOLFSSL_CACHE "${PROJECT_SOURCE_DIR}/build/wolfssl-optimized" CACHE PATH
    "Where the optimized wolfSSL is built once and shared by every preset")

if(SHADOWLINK_WOLFSSL STREQUAL "optimized")
  execute_process(COMMAND "${PROJECT_SOURCE_DIR}/scripts/build-wolfssl" "${SHADOWLINK_WOLFSSL_CACHE}"
                  OUTPUT_VARIABLE wolfssl_prefix RESULT_VARIABLE wolfssl_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT wolfssl_rc EQUAL 0)
    message(FATAL_ERROR "building the optimized wolfSSL failed (see above); "
                        "-DSHADOWLINK_WOLFSSL=system uses Debian's shared library instead")
  endif()
  add_library(wolfssl_lib STATIC IMPORTED GLOBAL)
  set_target_properties(wolfssl_lib PROPERTIES
    IMPORTED_LOCATION "${wolfssl_prefix}/lib/libwolfssl.a"
    INTERFACE_INCLUDE_DIRECTORIES "${wolfssl_prefix}/include"
    INTERFACE_LINK_LIBRARIES "m;Threads::Threads;${CMAKE_DL_LIBS}")
  set(WOLFSSL_INCLUDEDIR "${wolfssl_prefix}/include")
  message(STATUS "wolfSSL: optimized static build in ${wolfssl_prefix}")
elseif(SHADOWLINK_WOLFSSL STREQUAL "system")
  pkg_check_modules(WOLFSSL REQUIRED IMPORTED_TARGET wolfssl)
  add_library(wolfssl_lib INTERFACE)
  target_link_libraries(wolfssl_lib INTERFACE PkgConfig::WOLFSSL)
  message(STATUS "wolfSSL: Debian's shared library ${WOLFSSL_VERSION}")
else()
  message(FATAL_ERROR "SHADOWLINK_WOLFSSL must be 'optimized' or 'system', not '${SHADOWLINK_WOLFSSL}'")
endif()
