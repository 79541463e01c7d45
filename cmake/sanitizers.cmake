# AMAP_SANITIZE is a list: "address;undefined" or "thread".
if(AMAP_SANITIZE)
  if("thread" IN_LIST AMAP_SANITIZE AND "address" IN_LIST AMAP_SANITIZE)
    message(FATAL_ERROR "AMAP_SANITIZE: thread cannot be combined with address")
  endif()
  list(JOIN AMAP_SANITIZE "," _amap_san)
  add_compile_options(-fsanitize=${_amap_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_amap_san})
  add_compile_definitions(_GLIBCXX_ASSERTIONS AMAP_SANITIZED=1)
endif()

# Fuzzing: "replay" (default) links each fuzz target with a main that replays its corpus as a
# ctest; "libfuzzer" (clang++ only) instruments the whole build for coverage and links the
# targets with libFuzzer. Example:
#   CXX=clang++ cmake -B build/fuzz -DAMAP_FUZZ_ENGINE=libfuzzer -DAMAP_SANITIZE='address;undefined'
set(AMAP_FUZZ_ENGINE "replay" CACHE STRING "Fuzz driver: replay (default) or libfuzzer")
set_property(CACHE AMAP_FUZZ_ENGINE PROPERTY STRINGS replay libfuzzer)
if(AMAP_FUZZ_ENGINE STREQUAL "libfuzzer")
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "AMAP_FUZZ_ENGINE=libfuzzer needs clang++ (got ${CMAKE_CXX_COMPILER_ID})")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
