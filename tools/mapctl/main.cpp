// SPDX-License-Identifier: MIT
// mapctl: the operator tool for automap's override store. See tools/mapctl/README.md.
#include "tools/mapctl/commands.h"

int main(int argc, char** argv) {
  return amap::mapctl::run(argc, argv);
}
