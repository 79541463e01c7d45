# The conformance table (tests/conformance/cases.txt) over the network: automapd serve on
# 127.0.0.1:0 over UDP and TCP, bad-input case 22 (invalid forward names, round trips), and
# automapd pipe behind a real PowerDNS 4.7 (skipped inside the test when pdns_server is
# missing), and through the backend module (backend/pdns) when it is built. dnspython is installed for /usr/bin/python3, not for a pyenv python3 on PATH.
if(TARGET automapd)
  set(_amap_module_arg "")
  if(TARGET automapbackend)
    set(_amap_module_arg --pdns-module $<TARGET_FILE_DIR:automapbackend>)
  endif()
  add_test(NAME conformance_integration
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/conformance_test.py
                   $<TARGET_FILE:automapd> --root ${AMAP_SOURCE_ROOT} ${_amap_module_arg})
  set_tests_properties(conformance_integration PROPERTIES LABELS integration TIMEOUT 300)
endif()
