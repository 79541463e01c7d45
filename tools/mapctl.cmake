# mapctl: the override store's operator tool (tools/mapctl/README.md). The library holds
# everything but main() so unit tests can reach the parsers and the JSON code.
set(_mc ${CMAKE_CURRENT_LIST_DIR}/mapctl)
add_library(amap_mapctl STATIC ${_mc}/json.cpp ${_mc}/records.cpp ${_mc}/commands.cpp
                               ${_mc}/keys.cpp ${_mc}/cli.cpp ${_mc}/api_keys.cpp
                               ${_mc}/progress.cpp)
add_library(amap::mapctl ALIAS amap_mapctl)
target_include_directories(amap_mapctl PUBLIC ${AMAP_SOURCE_ROOT})
target_link_libraries(amap_mapctl PUBLIC amap::engine amap::store amap::store_sync nlohmann_json::nlohmann_json PRIVATE OpenSSL::Crypto amap::dnssec CLI11::CLI11 amap::version
                                         amap::warnings)

add_executable(mapctl ${_mc}/main.cpp)
target_link_libraries(mapctl PRIVATE amap::mapctl amap::warnings)
