# Warnings live on an INTERFACE target that every first-party target links PRIVATE.
add_library(amap_warnings INTERFACE)
add_library(amap::warnings ALIAS amap_warnings)
target_compile_options(amap_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wimplicit-fallthrough -Wduplicated-cond -Wlogical-op -Wnull-dereference
  -Wconversion -Wsign-conversion)
# GCC 12 reports false -Wrestrict positives inside std::string concatenation (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(amap_warnings INTERFACE -Wno-restrict)
endif()
if(AMAP_WERROR)
  target_compile_options(amap_warnings INTERFACE -Werror)
endif()
