# The conformance table (tests/conformance/cases.txt) in-process: App::resolve, wire::handle
# over UDP/TCP and pipe::Session transcripts for ABI 1 and 5. The same table is run over the
# network by tests/integration/conformance_test.py.
amap_unit_test(conformance_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/conformance_test.cpp
  LIBS amap::engine amap::wire amap::pipe)
target_compile_definitions(conformance_test PRIVATE
  AMAP_SOURCE_ROOT="${AMAP_SOURCE_ROOT}"
  AMAP_CONFORMANCE_TABLE="${AMAP_SOURCE_ROOT}/tests/conformance/cases.txt")
