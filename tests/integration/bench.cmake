# bench_smoke: checks that the benchmarks still run, not how fast they are (a few seconds):
# a handful of automap_bench cases with a tiny min time, then bench/automap-bench for 1 s per
# class against automapd and the do-nothing UDP responder, then PowerDNS with automapd pipe
# and with the canned-answer baseline coprocess, then dnsdist in front of automapd (when
# dnsdist is installed). Exit code 77 (skipped) when dnsperf is not installed.
if(AMAP_BUILD_BENCH)
  add_test(NAME bench_smoke
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/bench_smoke.py
                   --bench $<TARGET_FILE:automap_bench>
                   --harness ${AMAP_SOURCE_ROOT}/bench/automap-bench
                   --build ${CMAKE_BINARY_DIR})
  set_tests_properties(bench_smoke PROPERTIES LABELS integration TIMEOUT 300
                                              SKIP_RETURN_CODE 77)
endif()
