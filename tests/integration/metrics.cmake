# The HTTP monitoring listener of automapd serve (http.listen): /metrics counts match the
# queries sent, the exposition passes a strict text-format check, /health turns 503 on a
# damaged store, reloads are counted, the listener's limits and bind failure.
if(TARGET automapd AND TARGET mapctl)
  add_test(NAME http_metrics
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/metrics_test.py
                   $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
  set_tests_properties(http_metrics PROPERTIES LABELS integration TIMEOUT 120)
endif()

# The real Prometheus tools (Debian `prometheus`): promtool check metrics, and a prometheus
# server that scrapes automapd, read back through its HTTP API.
find_program(AMAP_PROMTOOL promtool)
find_program(AMAP_PROMETHEUS prometheus)
if(TARGET automapd AND AMAP_PROMTOOL AND AMAP_PROMETHEUS)
  add_test(NAME http_prometheus
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/prometheus_test.py
                   $<TARGET_FILE:automapd> ${AMAP_PROMTOOL} ${AMAP_PROMETHEUS})
  set_tests_properties(http_prometheus PROPERTIES LABELS integration TIMEOUT 90)
endif()
