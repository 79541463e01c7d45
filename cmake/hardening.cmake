# Hardening of the first-party targets: what Debian's dpkg-buildflags gives for hardening=+all
# (lintian's hardening-no-bindnow / hardening-no-fortify-functions, `hardening-check`). On the
# same INTERFACE target as the warnings (amap_warnings), which every first-party target links.
# Off with sanitizers or libFuzzer (their runtimes intercept the same functions and their own
# stack checks overlap); _FORTIFY_SOURCE only where the build optimises (it needs -O).
set(_amap_harden_default ON)
if(AMAP_SANITIZE OR AMAP_FUZZ_ENGINE STREQUAL "libfuzzer")
  set(_amap_harden_default OFF)
endif()
option(AMAP_HARDENING "Debian hardening flags (FORTIFY_SOURCE, stack protector, PIE, RELRO, BIND_NOW)"
       ${_amap_harden_default})
if(AMAP_HARDENING AND (AMAP_SANITIZE OR AMAP_FUZZ_ENGINE STREQUAL "libfuzzer"))
  message(FATAL_ERROR "AMAP_HARDENING cannot be combined with AMAP_SANITIZE or libFuzzer")
endif()
if(AMAP_HARDENING)
  # PIE: -fPIE objects and -pie executables. Not CMAKE_POSITION_INDEPENDENT_CODE: that compiles
  # static libraries with -fPIC, where every exported function may be interposed, so GCC stops
  # inlining calls between them (the prefix table's hash: +5-15 ns a synthesis). The libraries
  # that also go into the PowerDNS module are -fPIC (backend/pdns/CMakeLists.txt, with
  # -fno-semantic-interposition for that reason).
  include(CheckPIESupported)
  check_pie_supported(LANGUAGES CXX)
  target_compile_options(amap_warnings INTERFACE
    $<$<NOT:$<OR:$<BOOL:$<TARGET_PROPERTY:POSITION_INDEPENDENT_CODE>>,$<STREQUAL:$<TARGET_PROPERTY:TYPE>,SHARED_LIBRARY>,$<STREQUAL:$<TARGET_PROPERTY:TYPE>,MODULE_LIBRARY>>>:-fPIE>)
  target_link_options(amap_warnings INTERFACE
    $<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:-pie>)
  target_compile_options(amap_warnings INTERFACE
    $<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2>
    -fstack-protector-strong -fstack-clash-protection -fcf-protection)
  target_link_options(amap_warnings INTERFACE -Wl,-z,relro -Wl,-z,now)
endif()
