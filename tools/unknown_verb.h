// SPDX-License-Identifier: MIT
// "did you mean" for a mistyped verb, shared by mapctl and automapd.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "mapper/config/config.h"

namespace amap::tools {

/// After a parse error with no verb recognized: when the first word left over is no verb,
/// says so on stderr (with the closest verb within two edits, if one is) and returns true.
/// CLI11 reports such a word only as "A subcommand is required" or as extra arguments.
inline bool report_unknown_verb(CLI::App& cli, const char* program) {
  if (!cli.get_subcommands().empty()) {
    return false;
  }
  const std::vector<std::string> rest = cli.remaining();
  if (rest.empty() || rest.front().empty() || rest.front().front() == '-') {
    return false;
  }
  const std::string& word = rest.front();
  std::vector<std::string> names;
  for (const CLI::App* sub : cli.get_subcommands({})) {
    names.push_back(sub->get_name());
  }
  const std::vector<std::string_view> verbs(names.begin(), names.end());
  const std::string near = config::closest_match(word, verbs);
  std::string list;
  for (const auto& n : names) {
    list += (list.empty() ? "" : ", ") + n;
  }
  const std::string hint = near.empty() ? std::string() : ": did you mean '" + near + "'?";
  std::fprintf(stderr,
               "%s: unknown command '%s'%s (commands: %s)\nRun with --help for more "
               "information.\n",
               program, config::printable(word).c_str(), hint.c_str(), list.c_str());
  return true;
}

}  // namespace amap::tools
