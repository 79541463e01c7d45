# Config and input hygiene through the real binaries: config paths that are not readable files
# (directory, device, FIFO, pipe, unreadable), every error at once, inputs once accepted
# silently, escaped bytes in error lines.
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME config_input
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/config_input_test.py
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  # Under sanitizers the RSS bound is not checked (shadow memory and redzones); Release checks it.
  set_tests_properties(config_input PROPERTIES LABELS integration TIMEOUT 300
                       ENVIRONMENT "AMAP_SANITIZE=${AMAP_SANITIZE}")
endif()
