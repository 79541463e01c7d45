# automapd serve and the service manager's notify protocol (backend/server/notify.h), against
# a NOTIFY_SOCKET the test owns (a path and an abstract name).
if(TARGET automapd)
  add_test(NAME server_notify
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/notify_test.py $<TARGET_FILE:automapd>)
  set_tests_properties(server_notify PROPERTIES LABELS integration TIMEOUT 120)
endif()
