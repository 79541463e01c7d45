add_test(NAME mapper_pdns_pipe
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/mapper_pdns_test.py $<TARGET_FILE:automapd>
          --queries 400)
set_tests_properties(mapper_pdns_pipe PROPERTIES LABELS integration TIMEOUT 300)
