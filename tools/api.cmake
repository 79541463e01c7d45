# The provisioning API of automapd serve (tools/api/README.md): /api/v1/ on the HTTP listener,
# through mapctl's operations (tools/mapctl/ops.h).
set(_api ${CMAKE_CURRENT_LIST_DIR}/api)
add_library(amap_api STATIC ${_api}/api.cpp)
add_library(amap::api ALIAS amap_api)
target_include_directories(amap_api PUBLIC ${AMAP_SOURCE_ROOT})
target_link_libraries(amap_api PUBLIC amap::http amap::engine PRIVATE amap::mapctl OpenSSL::Crypto
                                      amap::warnings)
