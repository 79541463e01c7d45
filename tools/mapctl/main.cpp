// SPDX-License-Identifier: MIT
// mapctl: the operator tool for automap's override store. See tools/mapctl/README.md.
#include "store/bus_guard.h"
#include "tools/mapctl/commands.h"

int main(int argc, char** argv) {
  amap::store::install_bus_guard("mapctl");
  return amap::mapctl::run(argc, argv);
}
