# DNSSEC online signing in automapd serve, validated by unbound and delv (dnssec_test.py).
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME dnssec_integration
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/dnssec_test.py
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(dnssec_integration PROPERTIES LABELS integration TIMEOUT 180)
endif()

# Tampered and stale answers (a rewriting UDP proxy in front of automapd) are bogus in unbound
# and delv (dnssec_tamper_test.py, ~3 s).
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME dnssec_tamper
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/dnssec_tamper_test.py
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(dnssec_tamper PROPERTIES LABELS integration TIMEOUT 60)
endif()

# A KSK rollover (double signature, RFC 6781 4.1.2) with unbound's trust anchor following the
# parent's DS set, never bogus (dnssec_ksk_rollover_test.py, ~8 s).
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME dnssec_ksk_rollover
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/dnssec_ksk_rollover_test.py
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(dnssec_ksk_rollover PROPERTIES LABELS integration TIMEOUT 90)
endif()
