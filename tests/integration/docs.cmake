# The man pages (doc/*.scd) and bash completion (conf/package/bash-completion) name every
# config key of mapper/config/config.cpp and every verb and option of automapd and mapctl; the
# README examples hold (conf/overrides.csv, the preset paths of tools/examples, LICENSE).
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME docs_man_completion
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/docs_test.py ${AMAP_SOURCE_ROOT}
                   ${CMAKE_BINARY_DIR} $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(docs_man_completion PROPERTIES LABELS integration TIMEOUT 120)
endif()
