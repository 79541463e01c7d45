# mapctl end to end on a real LMDB store: every verb, --json, exit codes, import rejection.
if(TARGET mapctl)
  add_test(NAME mapctl_cli
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/mapctl_test.py $<TARGET_FILE:mapctl>)
  set_tests_properties(mapctl_cli PROPERTIES LABELS integration TIMEOUT 300)
endif()
