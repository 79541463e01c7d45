# The install tree and the Debian package (cmake/install.cmake): cmake --install, cpack -G DEB
# on this build (no rebuild), dpkg-deb, lintian, the unpacked package's automapd checkconf,
# systemd-analyze verify/security on its unit, man --warnings on its man pages, the hardening
# flags in the ELF files and lintian -I --pedantic without hardening-* tags.
if(TARGET automapd AND TARGET mapctl)
  # The hardening checks apply where cmake/hardening.cmake gives every flag (FORTIFY needs -O).
  set(_amap_hardened 0)
  if(AMAP_HARDENING AND CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
    set(_amap_hardened 1)
  endif()
  add_test(NAME package_deb
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/package_test.py ${CMAKE_BINARY_DIR}
                   ${_amap_hardened})
  set_tests_properties(package_deb PROPERTIES LABELS integration TIMEOUT 600)
endif()
