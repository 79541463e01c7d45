# The provisioning API of automapd serve (tools/api): every endpoint and error code over real
# HTTP on 127.0.0.1, keys made by mapctl api-key, a PUT answered by DNS at once, the API and
# mapctl writing at the same time, the body limit and the connection timeout.
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME http_api
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/api_test.py $<TARGET_FILE:automapd>
                   $<TARGET_FILE:mapctl>)
  set_tests_properties(http_api PROPERTIES LABELS integration TIMEOUT 120)
endif()
