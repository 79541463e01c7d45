# Overrides live: mapctl changes what automapd serve (and PowerDNS with automapd pipe) answer
# at once (and through the backend module when it is built); 100k writes under query load;
# SIGKILL in the middle of a 1M-line import.
set(_amap_overrides_module "")
if(TARGET automapbackend)
  set(_amap_overrides_module --pdns-module $<TARGET_FILE_DIR:automapbackend>)
endif()
add_test(NAME overrides_live
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/overrides_live_test.py
                 $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd> ${_amap_overrides_module})
set_tests_properties(overrides_live PROPERTIES LABELS integration TIMEOUT 300)
