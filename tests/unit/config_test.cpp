// SPDX-License-Identifier: MIT
#include "mapper/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace amap::config {
namespace {

std::vector<std::string> errors_of(const std::string& yaml) {
  auto r = load_text(yaml, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) {
    out.push_back(e.to_string());
  }
  return out;
}

const std::string kHead =
    "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 7 }\n"
    "ns: [ns1.example.net.]\n";

TEST(Config, ExampleInConfLoads) {
  auto r = load_file(AMAP_CONF_DIR "/automap.yaml");
  for (const auto& e : r.errors) {
    ADD_FAILURE() << e.to_string();
  }
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.prefixes.size(), 5U);
  EXPECT_TRUE(r.config.prefixes[2].blank);
  EXPECT_FALSE(r.config.prefixes[4].forward);
  EXPECT_EQ(r.config.prefixes[0].ttl.value_or(0), 86400U);
  EXPECT_EQ(r.config.zones.at(0).name.to_string(), "pool.example.net.");
  EXPECT_TRUE(r.config.store.present);
  EXPECT_EQ(r.config.store.map_size, 1ULL << 30);
  EXPECT_EQ(r.config.listen.size(), 2U);
}

// A file that cannot seek (a pipe: /dev/stdin, <(...)) is read whole like any other.
TEST(Config, LoadsFromAPipe) {
  const std::string text =
      kHead +
      "zones: [ { name: pool.example.net. } ]\n"
      "prefixes:\n"
      "  - { prefix: 10.0.0.0/8, name: \"ip-{a}-{b}-{c}-{d}.pool.example.net.\" }\n";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fds[1]);
  auto r = load_file("/dev/fd/" + std::to_string(fds[0]));
  ::close(fds[0]);
  for (const auto& e : r.errors) {
    ADD_FAILURE() << e.to_string();
  }
  ASSERT_EQ(r.config.prefixes.size(), 1U);
  EXPECT_EQ(r.config.prefixes[0].prefix.to_string(), "10.0.0.0/8");
}

TEST(Config, ReportsEveryErrorWithFileLineColumnAndPath) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - prefix: 10.0.0.1/8\n"
                        "    name: \"ip-{ip}.x.\"\n"
                        "  - prefix: 10.1.0.0/16\n"
                        "    nmae: \"x-{ip}.x.\"\n"
                        "bogus: 1\n");
  ASSERT_EQ(errs.size(), 4U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:8:1: bogus: unknown key (expected one of: soa, ns, zones, prefixes, "
            "store, listen, ttl, rrl, cookies)");
  EXPECT_EQ(errs[1],
            "t.yaml:4:13: prefixes[0].prefix: bad prefix '10.0.0.1/8': address has bits "
            "set beyond the prefix length (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(errs[2],
            "t.yaml:7:5: prefixes[1].nmae: unknown key (expected one of: prefix, name, "
            "ttl, blank, forward, reverse, classless)");
  EXPECT_EQ(errs[3], "t.yaml:6:5: prefixes[1]: needs a name template (name: ...) or blank: true");
}

TEST(Config, DuplicateKeysAndPrefixes) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - prefix: 10.0.0.0/8\n"
                        "    name: \"a-{ip}.x.\"\n"
                        "    name: \"b-{ip}.x.\"\n"
                        "  - prefix: 10.0.0.0/8\n"
                        "    blank: true\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0], "t.yaml:6:5: prefixes[0].name: duplicate key (first given at line 5)");
  EXPECT_EQ(errs[1],
            "t.yaml:7:13: prefixes[1].prefix: prefix 10.0.0.0/8 is already configured "
            "at line 4");
}

TEST(Config, MissingRequiredAndBadValues) {
  auto errs = errors_of("ns: []\nttl: -5\nstore: { map_size: 12XB }\nlisten: [\"::1:53\"]\n");
  ASSERT_EQ(errs.size(), 6U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0], "t.yaml:2:6: ttl: expected a non-negative integer, got '-5'");
  EXPECT_NE(errs[1].find("soa: required"), std::string::npos);
  EXPECT_EQ(errs[2], "t.yaml:1:5: ns: expected a non-empty list of name server names");
  EXPECT_EQ(errs[3], "t.yaml:3:8: store.path: required: the directory of the LMDB store");
  EXPECT_NE(errs[4].find("store.map_size: expected a size"), std::string::npos);
  EXPECT_EQ(errs[5], "t.yaml:4:10: listen[0]: '::1:53' is not ADDR:PORT (IPv6 as [::1]:5353)");
}

TEST(Config, NamesMustBeAbsoluteAndValid) {
  auto errs =
      errors_of("soa: { mname: ns1.example.net, rname: \"a..b.\" }\nns: [ns1.example.net.]\n");
  ASSERT_EQ(errs.size(), 2U);
  EXPECT_NE(errs[0].find("soa.mname: domain name 'ns1.example.net' must be absolute"),
            std::string::npos);
  EXPECT_NE(errs[1].find("soa.rname: bad domain name 'a..b.': empty label"), std::string::npos);
}

TEST(Config, SyntaxErrorHasAPosition) {
  auto errs = errors_of("soa: { mname: x.\nns: [\n");
  ASSERT_EQ(errs.size(), 1U);
  EXPECT_EQ(errs[0].rfind("t.yaml:", 0), 0U);
}

TEST(Config, AliasesNullsAndOnlyTheFirstDocument) {
  auto r = load_text(kHead +
                         "prefixes:\n"
                         "  - prefix: 10.0.0.0/8\n"
                         "    name: &t \"ip-{ip}.x.\"\n"
                         "  - prefix: 10.1.0.0/16\n"
                         "    name: *t\n"
                         "    ttl: ~\n"
                         "---\n"
                         "bogus: 1\n",
                     "t.yaml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].to_string(), "t.yaml:8:10: prefixes[1].ttl: expected a number");
  ASSERT_EQ(r.config.prefixes.size(), 2U);
  EXPECT_EQ(r.config.prefixes[1].name_template, "ip-{ip}.x.");
  EXPECT_EQ(r.config.prefixes[1].name_mark.line, 5);  // an alias is its anchored node
}

TEST(Config, ClasslessOnlyForLongIpv4) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - prefix: 10.0.0.0/24\n"
                        "    name: \"a-{ip}.x.\"\n"
                        "    classless: true\n");
  ASSERT_EQ(errs.size(), 1U);
  EXPECT_NE(errs[0].find("only to IPv4 prefixes longer than /24"), std::string::npos);
}

// A long `prefixes:` list is checked on a second thread while the parse goes on, in batches of
// 1024 items; a text with an anchor ('&', even in a comment) is read in one piece. Both must
// give the same prefixes and the same errors in the same order.
std::string long_list(std::size_t items, const std::string& tail) {
  std::string y = kHead + "zones: [{ name: x. }]\nprefixes:\n";
  for (std::size_t i = 0; i < items; ++i) {
    const std::string net = "10." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    switch (i % 500) {
      case 7:  // host bits set
        y += "  - { prefix: " + net + ".1/24, name: \"a-{ip}.x.\" }\n";
        break;
      case 99:  // unknown key, no name
        y += "  - prefix: " + net + ".0/24\n    nmae: x\n";
        break;
      case 250:  // a duplicate of the first item, in another batch
        y += "  - { prefix: 10.0.0.0/24, blank: true }\n";
        break;
      case 300:  // not a mapping, then a null item
        y += "  - 10.0.0.0/8\n  -\n";
        break;
      case 420:  // wrong types
        y += "  - { prefix: " + net + ".0/24, name: [a], ttl: x, forward: maybe }\n";
        break;
      default:
        y += "  - { prefix: " + net + ".0/24, name: \"a-{ip}.x.\"" +
             (i % 3 == 0 ? ", ttl: 60" : "") + (i % 5 == 0 ? ", reverse: false" : "") + " }\n";
    }
  }
  return y + tail;
}

/// The same text with an anchor sign in a comment, lines unchanged.
std::string one_piece(std::string y) {
  const std::string ns = "ns: [ns1.example.net.]\n";
  return y.replace(y.find(ns), ns.size(), "ns: [ns1.example.net.]  # &\n");
}

void expect_same(const LoadResult& a, const LoadResult& b) {
  ASSERT_EQ(a.errors.size(), b.errors.size());
  for (std::size_t i = 0; i < a.errors.size(); ++i) {
    EXPECT_EQ(a.errors[i].to_string(), b.errors[i].to_string()) << i;
  }
  ASSERT_EQ(a.config.prefixes.size(), b.config.prefixes.size());
  for (std::size_t i = 0; i < a.config.prefixes.size(); ++i) {
    const PrefixConfig& x = a.config.prefixes[i];
    const PrefixConfig& y = b.config.prefixes[i];
    EXPECT_TRUE(x.prefix == y.prefix && x.name_template == y.name_template && x.ttl == y.ttl &&
                x.blank == y.blank && x.forward == y.forward && x.reverse == y.reverse &&
                x.classless == y.classless && x.mark.line == y.mark.line &&
                x.mark.column == y.mark.column && x.name_mark.line == y.name_mark.line &&
                x.name_mark.column == y.name_mark.column && x.path == y.path)
        << i;
  }
}

TEST(Config, LongListsCheckedWhileParsingMatchOnePieceReading) {
  const std::string tail = "store: { path: \"\" }\nlisten: [x]\nprefixes: [1]\n";
  for (std::size_t items : {0UL, 1UL, 1023UL, 1024UL, 1025UL, 2048UL, 5000UL}) {
    SCOPED_TRACE(items);
    const std::string y = long_list(items, tail);
    const LoadResult streamed = load_text(y, "t.yaml");
    const LoadResult whole = load_text(one_piece(y), "t.yaml");
    expect_same(streamed, whole);
    if (items == 5000) {
      EXPECT_EQ(streamed.errors.size(), 3 + 10 * 9U);  // tail: store, listen, duplicate key
      EXPECT_EQ(streamed.config.prefixes.size(), 5000U - 10 * 5U);
    }
  }
  // A flow list, and a syntax error after many items (the second thread is stopped).
  std::string flow = kHead + "prefixes: [";
  for (int i = 0; i < 3000; ++i) {
    flow += "{ prefix: 10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
            ".0/24, blank: true }, ";
  }
  expect_same(load_text(flow + "]\n", "t.yaml"), load_text(one_piece(flow + "]\n"), "t.yaml"));
  const std::string broken = long_list(3000, "  - { prefix: [\n");
  ASSERT_EQ(load_text(broken, "t.yaml").errors.size(), 1U);
  expect_same(load_text(broken, "t.yaml"), load_text(one_piece(broken), "t.yaml"));
}

TEST(Config, Sizes) {
  EXPECT_EQ(parse_size("4GiB"), 4ULL << 30);
  EXPECT_EQ(parse_size("65536"), 65536U);
  EXPECT_FALSE(parse_size("GiB"));
  EXPECT_FALSE(parse_size("4 GiB"));
}

}  // namespace
}  // namespace amap::config
