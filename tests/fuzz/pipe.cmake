# Fuzz target for the PowerDNS pipe line protocol (pipe::Session) over the hello and whoami
# examples and the mapper (conf/automap.yaml); replays corpus/pipe/ as a ctest by default.
# Included by tests/fuzz/CMakeLists.txt, where amap_fuzz_target() is defined.
amap_fuzz_target(NAME fuzz_pipe CORPUS pipe SOURCES fuzz_pipe.cpp
                 LIBS amap::pipe amap::engine amap::examples)
target_compile_definitions(fuzz_pipe PRIVATE AMAP_SOURCE_ROOT="${AMAP_SOURCE_ROOT}")
