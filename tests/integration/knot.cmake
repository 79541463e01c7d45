add_test(NAME knot_differential
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/knot_diff_test.py $<TARGET_FILE:automapd>
          --queries 3000)
set_tests_properties(knot_differential PROPERTIES LABELS integration TIMEOUT 300)

# The same with DO=1 against Knot mod-synthrecord + mod-onlinesign: both validated by delv,
# answer shapes compared against a list of known differences (knot_dnssec_diff_test.py, ~8 s).
if(TARGET mapctl)
  add_test(NAME knot_dnssec_differential
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/knot_dnssec_diff_test.py
            $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(knot_dnssec_differential PROPERTIES LABELS integration TIMEOUT 90)
endif()

# The same full query set (same seed and size) through pdns_server + the automap module, held
# to automapd serve's answers and so to Knot's (backend/pdns/README.md, "Tests").
if(TARGET automapbackend)
  add_test(NAME knot_differential_pdns_module
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/knot_diff_test.py $<TARGET_FILE:automapd>
            --queries 3000 --pdns-module $<TARGET_FILE_DIR:automapbackend>)
  set_tests_properties(knot_differential_pdns_module PROPERTIES LABELS integration TIMEOUT 300)
endif()
