# The README's "Writing a stateful app" example, cut out of README.md at configure time,
# built with the project's warnings and run against real TCP listeners, so the text stays
# true. Editing README.md re-runs the configure step.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${AMAP_SOURCE_ROOT}/README.md)
file(READ ${AMAP_SOURCE_ROOT}/README.md _readme)
string(FIND "${_readme}" "## Writing a stateful app" _at)
if(_at EQUAL -1)
  message(FATAL_ERROR "README.md has no section 'Writing a stateful app'")
endif()
string(SUBSTRING "${_readme}" ${_at} -1 _rest)
string(FIND "${_rest}" "```cpp\n" _begin)
math(EXPR _begin "${_begin} + 7")
string(SUBSTRING "${_rest}" ${_begin} -1 _rest)
string(FIND "${_rest}" "```" _end)
string(SUBSTRING "${_rest}" 0 ${_end} _code)
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/readme_stateful_app.cpp CONTENT "${_code}"
     @ONLY)
add_executable(readme_stateful_app ${CMAKE_CURRENT_BINARY_DIR}/readme_stateful_app.cpp)
target_link_libraries(readme_stateful_app PRIVATE amap::run amap::warnings)
add_test(NAME readme_stateful_app
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/readme_app_test.py
                 $<TARGET_FILE:readme_stateful_app>)
set_tests_properties(readme_stateful_app PROPERTIES LABELS integration TIMEOUT 60)
