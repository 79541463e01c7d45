# Storage faults: damaged data.mdb, full filesystem at creation and at commit (a tmpfs mounted
# by the test, as root), reader slots exhausted.
if(TARGET mapctl AND TARGET automapd)
  add_test(NAME store_faults
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/store_fault_test.py
                   $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
  set_tests_properties(store_faults PROPERTIES LABELS integration TIMEOUT 300)
endif()
