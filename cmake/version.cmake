# The version the binaries print (--version) and the pipe banner carries: the project version
# and `git describe` of the source tree, both captured at configure time into a generated
# header. Outside a git checkout (a release tarball) the describe falls back to the version.
find_package(Git QUIET)
set(AMAP_GIT_DESCRIBE "")
if(GIT_FOUND AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/.git)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --tags
                  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
                  OUTPUT_VARIABLE AMAP_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _amap_git_rc ERROR_QUIET)
  if(NOT _amap_git_rc EQUAL 0)
    set(AMAP_GIT_DESCRIBE "")
  endif()
endif()
if(AMAP_GIT_DESCRIBE STREQUAL "")
  set(AMAP_GIT_DESCRIBE "v${PROJECT_VERSION}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.h.in ${CMAKE_BINARY_DIR}/generated/automap/version.h
               @ONLY)
add_library(amap_version INTERFACE)
add_library(amap::version ALIAS amap_version)
target_include_directories(amap_version INTERFACE ${CMAKE_BINARY_DIR}/generated)
