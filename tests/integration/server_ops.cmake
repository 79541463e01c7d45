# automapd serve as an operator runs it (issue 12): log lines (journal form, log.level), the
# privilege drop of user:, the SOA serial derived from the data.
if(TARGET automapd)
  add_test(NAME server_log
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/server_log_test.py
                   $<TARGET_FILE:automapd>)
  set_tests_properties(server_log PROPERTIES LABELS integration TIMEOUT 120)
endif()

# user:/group: the privilege drop after binding (as root: to nobody; refusals).
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME server_user
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/server_user_test.py
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(server_user PROPERTIES LABELS integration TIMEOUT 120)
endif()

# The SOA serial without soa.serial: equal on two nodes with the same config and store copy,
# raised by a mapctl change (at the next reload) and by a config change.
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME soa_serial
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/soa_serial_test.py
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(soa_serial PROPERTIES LABELS integration TIMEOUT 120)
endif()

# identity: NSID (RFC 5001) and CH TXT id.server./hostname.bind./version.bind. with dig.
if(TARGET automapd)
  add_test(NAME server_identity
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/identity_test.py
                   $<TARGET_FILE:automapd>)
  set_tests_properties(server_identity PROPERTIES LABELS integration TIMEOUT 60)
endif()
