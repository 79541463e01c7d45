# Fuzz targets for mapper/core (templates, reverse names) and the override store's value and
# key codec; each replays corpus/<name>/ as a ctest (label fuzz) by default.
# Included by tests/fuzz/CMakeLists.txt, where amap_fuzz_target() is defined.
amap_fuzz_target(NAME fuzz_template CORPUS template SOURCES fuzz_template.cpp
                 LIBS amap::mapper)
amap_fuzz_target(NAME fuzz_reverse_name CORPUS reverse_name SOURCES fuzz_reverse_name.cpp
                 LIBS amap::mapper)
amap_fuzz_target(NAME fuzz_store_value CORPUS store_value SOURCES fuzz_store_value.cpp
                 LIBS amap::store)
