// SPDX-License-Identifier: MIT
// automap_gen_queries: dnsperf query files from a configuration's prefixes, for
// bench/automap-bench. Every name is distinct and checked against the mapper.
//
//   automap_gen_queries -c conf/automap.yaml --class ptr6 --count 100000
//                       [--seed 1] [--nxdomain-share 0.1] [--allow-fewer] [-o ptr6.txt]
//                       [--override-share 0.2 --overrides ptr6-overrides.csv]
//                       [--nxdomain-names ptr6-nx.txt]
//
// Output: one "name TYPE" line per query (dnsperf -d format). Classes: ptr4, ptr6, a, aaaa,
// nxdomain. With --nxdomain-share F, that share of the lines (rounded) are nxdomain names,
// spread through the file in a seeded random order. With --allow-fewer, a count larger than
// the prefixes can give (about 90% of their addresses) is lowered, with a note on stderr.
//
// With --override-share F, that share of the synthesized names (evenly spaced in generation
// order, which is already random) get an address override, written as `mapctl import` CSV to
// --overrides: the address's synthesized name with "o-" in front of its first label (so the
// same address always gets the same line, whichever class picked it). PTR queries keep their
// reverse name (answered from the store); A/AAAA queries ask the override name instead (the
// store's name index).
//
// --nxdomain-names: the nxdomain names of the file, one per line without the trailing dot,
// for the canned baseline coprocess (automap_null_pipe --nxdomain), so that PowerDNS does
// the same NXDOMAIN work behind it as behind automapd pipe.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/workload.h"

namespace {

int usage(const char* msg) {
  std::fprintf(stderr,
               "automap_gen_queries: %s\n"
               "usage: automap_gen_queries -c FILE --class ptr4|ptr6|a|aaaa|nxdomain "
               "--count N [--seed S] [--nxdomain-share F] [--allow-fewer] [-o FILE]\n"
               "       [--override-share F --overrides CSV] [--nxdomain-names FILE]\n",
               msg);
  return 2;
}

std::string line_of(const amap::dns::Name& n, amap::dns::RRType t) {
  char buf[16];
  std::string s = n.to_string(true);
  s.push_back(' ');
  s += t.to_text(buf);
  s.push_back('\n');
  return s;
}

/// The override name of an address whose synthesized name is `synthesized`: "o-" in front.
amap::Result<amap::dns::Name> override_name(const amap::dns::Name& synthesized) {
  return amap::dns::Name::from_text("o-" + synthesized.to_string(true));
}

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  std::string output;
  std::string cls;
  std::size_t count = 0;
  std::uint64_t seed = 1;
  double nx_share = 0.0;
  double override_share = 0.0;
  std::string overrides_path;
  std::string nx_names_path;
  bool allow_fewer = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    if (a == "-h" || a == "--help") {
      usage("help");
      return 0;
    }
    if (a == "--allow-fewer") {
      allow_fewer = true;
      continue;
    }
    if ((v = value()) == nullptr) {
      return usage("missing value");
    }
    if (a == "-c" || a == "--config") {
      config = v;
    } else if (a == "--class") {
      cls = v;
    } else if (a == "--count") {
      count = std::strtoull(v, nullptr, 10);
    } else if (a == "--seed") {
      seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--nxdomain-share") {
      nx_share = std::strtod(v, nullptr);
    } else if (a == "--override-share") {
      override_share = std::strtod(v, nullptr);
    } else if (a == "--overrides") {
      overrides_path = v;
    } else if (a == "--nxdomain-names") {
      nx_names_path = v;
    } else if (a == "-o" || a == "--output") {
      output = v;
    } else {
      return usage(("unknown option " + std::string(a)).c_str());
    }
  }
  const auto c = amap::bench::query_class_from(cls);
  if (config.empty() || !c || count == 0 || nx_share < 0.0 || nx_share >= 1.0) {
    return usage("need -c FILE, a known --class, --count > 0 and 0 <= --nxdomain-share < 1");
  }
  if (override_share < 0.0 || override_share > 1.0 ||
      (override_share > 0.0) != !overrides_path.empty()) {
    return usage("--override-share F (0 <= F <= 1) and --overrides CSV go together");
  }
  try {
    const auto env = amap::bench::load_file(config);
    amap::mapper::Mapper::Context context(*env.mapper);
    auto nx = *c == amap::bench::QueryClass::nxdomain
                  ? count
                  : static_cast<std::size_t>(std::llround(static_cast<double>(count) * nx_share));
    std::vector<std::string> lines;
    lines.reserve(count);
    std::string csv;
    std::size_t seen = 0;
    bool overrides_done = false;  // the NXDOMAIN names come last and never get one
    std::string nx_names;
    auto sink = [&](const amap::dns::Name& n, amap::dns::RRType t) {
      if (overrides_done) {  // the NXDOMAIN names
        nx_names += n.to_string(false);
        nx_names += '\n';
      }
      const bool pick = !overrides_done && override_share > 0.0 &&
                        static_cast<std::size_t>(static_cast<double>(seen + 1) * override_share) >
                            static_cast<std::size_t>(static_cast<double>(seen) * override_share);
      ++seen;
      if (!pick) {
        lines.push_back(line_of(n, t));
        return;
      }
      const auto s = env.mapper->synthesize(context, n);
      const bool reverse = t == amap::dns::rrtype::PTR;
      const auto oname = override_name(reverse ? s.target : n);
      using Status = amap::mapper::Synthesis::Status;
      if (s.status != (reverse ? Status::ptr : Status::address) || !oname) {
        throw std::runtime_error("no override possible for " + n.to_string(true));
      }
      csv += s.address.to_string() + ",name," + oname->to_string(true) + ",\n";
      lines.push_back(line_of(reverse ? n : *oname, t));
    };
    std::size_t nx_made = nx;
    if (count > nx) {
      const std::size_t made =
          amap::bench::generate(*env.mapper, *c, count - nx, seed, sink, allow_fewer);
      if (made < count - nx) {
        std::fprintf(stderr, "automap_gen_queries: only %zu distinct %s names\n", made,
                     cls.c_str());
        // Keep the NXDOMAIN share of the (shorter) file.
        nx_made = static_cast<std::size_t>(
            std::llround(static_cast<double>(made) * nx_share / (1.0 - nx_share)));
      }
    }
    nx = nx_made;
    overrides_done = true;
    if (nx > 0) {
      amap::bench::generate(*env.mapper, amap::bench::QueryClass::nxdomain, nx, seed + 1, sink);
    }
    if (nx > 0 && nx < lines.size()) {
      std::mt19937_64 rng(seed);
      std::shuffle(lines.begin(), lines.end(), rng);
    }
    std::FILE* out = output.empty() ? stdout : std::fopen(output.c_str(), "w");
    if (out == nullptr) {
      std::perror(output.c_str());
      return 1;
    }
    for (const auto& l : lines) {
      std::fwrite(l.data(), 1, l.size(), out);
    }
    if (std::fflush(out) != 0 || (out != stdout && std::fclose(out) != 0)) {
      std::perror("write");
      return 1;
    }
    for (const auto& [path, text] :
         {std::pair{&overrides_path, &csv}, {&nx_names_path, &nx_names}}) {
      if (path->empty()) {
        continue;
      }
      std::FILE* o = std::fopen(path->c_str(), "w");
      if (o == nullptr || std::fwrite(text->data(), 1, text->size(), o) != text->size() ||
          std::fclose(o) != 0) {
        std::perror(path->c_str());
        return 1;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "automap_gen_queries: %s\n", e.what());
    return 1;
  }
  return 0;
}
