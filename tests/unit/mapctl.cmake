# mapctl's pure parts: JSON escaping/parsing, CSV/JSONL import parsing and validation.
if(TARGET amap_mapctl)
  amap_unit_test(mapctl_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/mapctl_test.cpp
                 LIBS amap::mapctl)
endif()
