# amap::run: the main() helper every app links (command line, then the pipe coprocess or a
# standalone server). backend/CMakeLists.txt includes this file explicitly and again through
# its *.cmake glob, hence the guard.
include_guard(GLOBAL)
add_library(amap_run STATIC ${CMAKE_CURRENT_LIST_DIR}/run.cpp ${CMAKE_CURRENT_LIST_DIR}/privileges.cpp)
add_library(amap::run ALIAS amap_run)
target_include_directories(amap_run PUBLIC ${AMAP_SOURCE_ROOT})
target_link_libraries(amap_run PUBLIC amap::pipe amap::server amap::app CLI11::CLI11 PRIVATE amap::warnings)
target_compile_definitions(amap_run PRIVATE AMAP_VERSION="${PROJECT_VERSION}")
