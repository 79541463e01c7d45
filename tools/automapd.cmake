add_executable(automapd ${CMAKE_CURRENT_LIST_DIR}/automapd.cpp)
target_link_libraries(automapd PRIVATE amap::engine amap::dnssec amap::run amap::http amap::api amap::mapctl amap::store_sync amap::version CLI11::CLI11
                                       nlohmann_json::nlohmann_json
                                       amap::warnings)
