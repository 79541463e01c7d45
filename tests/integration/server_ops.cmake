# automapd serve as an operator runs it (issue 12): log lines (journal form, log.level).
if(TARGET automapd)
  add_test(NAME server_log
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/server_log_test.py
                   $<TARGET_FILE:automapd>)
  set_tests_properties(server_log PROPERTIES LABELS integration TIMEOUT 120)
endif()

