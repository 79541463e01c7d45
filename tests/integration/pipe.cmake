# backend/pipe under a real PowerDNS (pdns_server 4.7 + pdns-backend-pipe): the hello and
# whoami examples for pipe ABI 1, 3 and 5. Skipped (not failed) when pdns_server is missing.
# dnspython is installed for /usr/bin/python3, not for a pyenv python3 on PATH.
find_program(AMAP_PDNS_SERVER pdns_server PATHS /usr/sbin /usr/local/sbin)
if(AMAP_PDNS_SERVER AND TARGET hello AND TARGET whoami)
  add_test(NAME pipe_pdns_integration
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/pipe_pdns_test.py
                   $<TARGET_FILE:hello> $<TARGET_FILE:whoami>)
  set_tests_properties(pipe_pdns_integration PROPERTIES LABELS integration TIMEOUT 120)
else()
  message(STATUS "pdns_server not found: pipe_pdns_integration is not registered")
endif()
