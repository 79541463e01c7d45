# The install tree and the Debian package (cmake/install.cmake): cmake --install, cpack -G DEB
# on this build (no rebuild), dpkg-deb, lintian, the unpacked package's automapd checkconf,
# systemd-analyze verify/security on its unit, man --warnings on its man pages.
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME package_deb
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/package_test.py ${CMAKE_BINARY_DIR})
  set_tests_properties(package_deb PROPERTIES LABELS integration TIMEOUT 600)
endif()
