# backend/pdns: libautomapbackend.so loaded by a real pdns_server (zone cache on), compared
# with automapd serve; the version guard with a copy built for another build-id.
if(TARGET automapbackend AND TARGET automapbackend_wrong_host)
  add_test(NAME pdns_module
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/pdns_module_test.py
            $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl> $<TARGET_FILE_DIR:automapbackend>
            $<TARGET_FILE_DIR:automapbackend_wrong_host> --queries 3000
            --build-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(pdns_module PROPERTIES LABELS integration TIMEOUT 300)
endif()
# The module's .deb, built into a temp folder by the same script as the pdns-module-deb target.
if(TARGET automapbackend)
  add_test(NAME pdns_module_package
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/pdns_module_package_test.py
            ${CMAKE_COMMAND} ${AMAP_SOURCE_ROOT}/backend/pdns/package_deb.cmake ${CMAKE_BINARY_DIR}
            ${AMAP_SOURCE_ROOT}/backend/pdns ${PROJECT_VERSION} ${AMAP_PDNS_VERSION}
            ${AMAP_PDNS_MODULE_DIR})
  set_tests_properties(pdns_module_package PROPERTIES LABELS integration TIMEOUT 120)
endif()
# 1,000,000 queries through pdns_server + the module with live overrides: no SERVFAIL, no
# loss, flat RSS. 26 s on 2 cores at load 7, 62-77 s in the whole suite at load 12, so labelled
# long as well: ctest -LE long skips it; the plain `ctest --preset ci`, as `tools/automap-dev
# test` runs it, includes it.
if(TARGET automapbackend)
  add_test(NAME pdns_module_soak
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/pdns_module_soak_test.py
            $<TARGET_FILE:mapctl> $<TARGET_FILE_DIR:automapbackend>)
  set_tests_properties(pdns_module_soak PROPERTIES LABELS "integration;long" TIMEOUT 300)
endif()
