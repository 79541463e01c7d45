# The lb example against three real HTTP front-ends, standalone (--listen) and behind a real
# pdns_server pipe backend (that part is skipped, not failed, when pdns_server is missing).
if(TARGET lb)
  find_program(AMAP_PDNS_SERVER pdns_server PATHS /usr/sbin /usr/local/sbin)
  if(AMAP_PDNS_SERVER)
    set(_lb_pdns 1)
  else()
    set(_lb_pdns 0)
  endif()
  add_test(NAME lb_integration
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/lb_test.py $<TARGET_FILE:lb>
                   ${_lb_pdns})
  set_tests_properties(lb_integration PROPERTIES LABELS integration TIMEOUT 180)
endif()
