# Storage faults: damaged data.mdb, full filesystem at creation and at commit (a tmpfs mounted
# by the test, as root), reader slots exhausted.
if(TARGET mapctl AND TARGET automapd)
  add_test(NAME store_faults
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/store_fault_test.py
                   $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
  set_tests_properties(store_faults PROPERTIES LABELS integration TIMEOUT 300)
endif()
# A store replaced under running servers (serve and pipe) is reopened by them, while queries
# flow; a damaged replacement is refused. mdb_copy (lmdb-utils) makes the restored copies.
find_program(MDB_COPY mdb_copy)
if(TARGET mapctl AND TARGET automapd AND MDB_COPY)
  add_test(NAME store_reopen
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/store_reopen_test.py
                   $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd> ${MDB_COPY})
  set_tests_properties(store_reopen PROPERTIES LABELS integration TIMEOUT 120)
endif()
# The store shared with `automapd pipe` run as another user (pdns): the clear EACCES sentence,
# checkconf --as-user, the setgid group setup the package ships, and a real pdns_server with
# setuid to that user. Creates and removes a test user and group (root); skipped (77) otherwise.
if(TARGET mapctl AND TARGET automapd)
  add_test(NAME store_permissions
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/store_permissions_test.py
                   $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
  set_tests_properties(store_permissions PROPERTIES LABELS integration TIMEOUT 120
                                                    SKIP_RETURN_CODE 77)
endif()
