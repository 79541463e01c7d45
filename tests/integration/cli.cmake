# automapd/mapctl --version, automapd's usage exit code 2, the pipe banner's version.
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME cli_version_exit
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/cli_test.py ${AMAP_SOURCE_ROOT}
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl> ${PROJECT_VERSION})
  set_tests_properties(cli_version_exit PROPERTIES LABELS integration TIMEOUT 120)
endif()
