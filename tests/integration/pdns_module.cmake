# backend/pdns: libautomapbackend.so loaded by a real pdns_server (zone cache on), compared
# with automapd serve; the version guard with a copy built for another build-id.
if(TARGET automapbackend AND TARGET automapbackend_wrong_host)
  add_test(NAME pdns_module
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/pdns_module_test.py
            $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl> $<TARGET_FILE_DIR:automapbackend>
            $<TARGET_FILE_DIR:automapbackend_wrong_host> --queries 400
            --build-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(pdns_module PROPERTIES LABELS integration TIMEOUT 300)
endif()
