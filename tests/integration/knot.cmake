add_test(NAME knot_differential
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/knot_diff_test.py $<TARGET_FILE:automapd>
          --queries 3000)
set_tests_properties(knot_differential PROPERTIES LABELS integration TIMEOUT 300)
