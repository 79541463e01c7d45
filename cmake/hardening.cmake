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
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)  # -fPIE objects; -pie links (policy CMP0083)
  include(CheckPIESupported)
  check_pie_supported()
  target_compile_options(amap_warnings INTERFACE
    $<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2>
    -fstack-protector-strong -fstack-clash-protection -fcf-protection)
  target_link_options(amap_warnings INTERFACE -Wl,-z,relro -Wl,-z,now)
endif()
