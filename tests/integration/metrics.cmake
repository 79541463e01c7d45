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

# Pipe lines by verb: automapd serve sums the counter files of a real pdns_server's
# `automapd pipe` coprocesses (pipe.counters_dir), prunes those of dead pids.
find_program(AMAP_PDNS_SERVER pdns_server PATHS /usr/sbin /usr/local/sbin)
if(TARGET automapd AND AMAP_PDNS_SERVER)
  add_test(NAME http_pipe_metrics
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/pipe_metrics_test.py
                   $<TARGET_FILE:automapd> ${AMAP_PROMTOOL})
  set_tests_properties(http_pipe_metrics PROPERTIES LABELS integration TIMEOUT 60)
endif()
