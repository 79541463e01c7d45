# backend/pipe: line-level protocol tests, golden transcripts (tests/transcripts/pipe/) run
# through the serve() loop, and the zero-allocation check (this binary replaces the global
# operator new to count calls).
amap_unit_test(pipe_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/pipe_session_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pipe_serve_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pipe_alloc_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pipe_counters_test.cpp
  LIBS amap::pipe amap::examples Threads::Threads)
target_compile_definitions(pipe_test PRIVATE
  AMAP_PIPE_TRANSCRIPTS="${AMAP_SOURCE_ROOT}/tests/transcripts/pipe"
  AMAP_TEST_VERSION="${PROJECT_VERSION}")
