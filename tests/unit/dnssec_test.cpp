// SPDX-License-Identifier: MIT
// mapper/dnssec: keys against the RFC 6605 / RFC 8080 examples, BIND file round trips, the
// signer's answer shapes (compact denial), canonical order, the cache, and no allocation on a
// cache hit (this binary counts allocations: alloc_counter.h).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "mapper/app/testing.h"
#include "mapper/dnssec/key.h"
#include "mapper/dnssec/signer.h"
#include "mapper/wire/handle.h"
#include "tests/unit/alloc_counter.h"

namespace {

using amap::app::Answer;
using amap::app::Outcome;
using amap::app::Record;
using amap::app::Section;
namespace dnssec = amap::dnssec;
namespace dns = amap::dns;

std::string temp_dir() {
  char tmpl[] = "/tmp/dnssec-unit-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  return d == nullptr ? std::string() : std::string(d);
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string hex(const std::vector<std::uint8_t>& v) {
  std::string out;
  for (const std::uint8_t b : v) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

dns::Name name(std::string_view text) {
  return *dns::Name::from_text(text);
}

// RFC 6605 6.1 and RFC 8080 6.1: the published example keys, their key tags and DS digests.
TEST(DnssecKey, Rfc6605AndRfc8080Examples) {
  const std::string dir = temp_dir();
  write(dir + "/Kexample.net.+013+55648.private",
        "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\n"
        "PrivateKey: GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=\n");
  write(dir + "/Kexample.net.+013+55648.key",
        "example.net. 3600 IN DNSKEY 257 3 13 (\n"
        "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA== "
        ")\n");
  const dnssec::Key k = dnssec::Key::load(dir + "/Kexample.net.+013+55648");
  EXPECT_EQ(k.tag(), 55648);
  EXPECT_EQ(hex(k.ds_sha256(name("example.net."))),
            "b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17");

  write(dir + "/Kexample.com.+015+03613.private",
        "Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\n"
        "PrivateKey: ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=\n");
  write(dir + "/Kexample.com.+015+03613.key",
        "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n");
  const dnssec::Key e = dnssec::Key::load(dir + "/Kexample.com.+015+03613");
  EXPECT_EQ(e.tag(), 3613);
  EXPECT_EQ(hex(e.ds_sha256(name("example.com."))),
            "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b");
  std::filesystem::remove_all(dir);
}

TEST(DnssecKey, SaveAndLoadRoundTrip) {
  const std::string dir = temp_dir();
  for (const auto alg : {dnssec::Algorithm::ecdsap256sha256, dnssec::Algorithm::ed25519}) {
    const dnssec::Key k = dnssec::Key::generate(alg, dnssec::kFlagsKsk);
    const std::string base = k.save(dir, name("pool.example.net."));
    struct stat st {};
    ASSERT_EQ(::stat((base + ".private").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777U, 0600U);
    const dnssec::Key back = dnssec::Key::load(base);
    EXPECT_EQ(back.tag(), k.tag());
    EXPECT_EQ(back.dnskey_rdata(), k.dnskey_rdata());
    EXPECT_THROW((void)k.save(dir, name("pool.example.net.")), std::runtime_error);  // exists
  }
  EXPECT_EQ(dnssec::load_keys(dir).size(), 2U);
  std::filesystem::remove_all(dir);
}

TEST(DnssecKey, BadFilesNameTheFileAndWhy) {
  const std::string dir = temp_dir();
  auto message = [&](const std::string& base) {
    try {
      (void)dnssec::Key::load(base);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  EXPECT_NE(message(dir + "/Kx").find("Kx.private: cannot open"), std::string::npos);
  write(dir + "/Ka.private",
        "Private-key-format: v1.3\nAlgorithm: 8 (RSASHA256)\nPrivateKey: AAAA\n");
  EXPECT_NE(message(dir + "/Ka").find("algorithm 8 is not supported"), std::string::npos);
  const dnssec::Key k = dnssec::Key::generate(dnssec::Algorithm::ecdsap256sha256, 257);
  const dnssec::Key other = dnssec::Key::generate(dnssec::Algorithm::ecdsap256sha256, 257);
  const std::string base = k.save(dir, name("z."));
  const std::string obase = other.save(dir, name("z."));
  std::filesystem::copy_file(obase + ".key", base + ".key",
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_NE(message(base).find("does not match"), std::string::npos);
  EXPECT_THROW((void)dnssec::load_keys(dir + "/none"), std::runtime_error);
  std::filesystem::remove_all(dir);
}

struct Fixture {
  amap::app::App app;
  std::shared_ptr<const dnssec::Signer> signer;
  std::unique_ptr<amap::app::Worker> worker;
  amap::app::SigningCounters counters;
  bool reversed = false;

  std::string target = "t0.example.";

  explicit Fixture(dnssec::Algorithm alg = dnssec::Algorithm::ecdsap256sha256,
                   std::uint32_t cache_entries = 4096) {
    app.zone("example.");
    app.route(amap::app::Match().domain("many.example.").type("PTR"),
              [this](const amap::app::Request&, Answer& ans) noexcept {
                ans.ptr(name(target), 60);
                return Outcome::hit;
              });
    app.route(amap::app::Match().name("two.example.").type("PTR"),
              [this](const amap::app::Request&, Answer& ans) noexcept {
                ans.ptr(name(reversed ? "B.example." : "a.example."), 60);
                ans.ptr(name(reversed ? "a.example." : "B.example."), 60);
                return Outcome::hit;
              });
    app.route(amap::app::Match().name("y.example."),  // an empty non-terminal
              [](const amap::app::Request&, Answer&) noexcept { return Outcome::nodata; });
    app.route(amap::app::Match().name("x.y.example."),
              [](const amap::app::Request&, Answer& ans) noexcept {
                ans.a(*dns::IpAddress::parse("192.0.2.1"), 60);
                return Outcome::miss;
              });
    std::vector<dnssec::Key> keys;
    keys.push_back(dnssec::Key::generate(alg, dnssec::kFlagsKsk));
    dnssec::SignerOptions o;
    o.now = [] { return std::int64_t{1'800'000'000}; };
    o.cache_entries = cache_entries;
    signer = dnssec::Signer::install(app, std::move(keys), o);
    worker = std::make_unique<amap::app::Worker>(app);
  }

  std::uint64_t hits() const {
    return counters.by_algorithm[0].cache_hits + counters.by_algorithm[1].cache_hits;
  }
  const amap::app::SigningCounters::PerAlgorithm& ecdsa() const {
    return counters.by_algorithm[amap::app::SigningCounters::index(13)];
  }
  std::vector<std::uint8_t> rrsig(const Answer& a) const {
    for (const Record& r : a.records()) {
      if (r.type == dns::rrtype::RRSIG && r.section == Section::answer) {
        return {a.rdata(r).begin(), a.rdata(r).end()};
      }
    }
    return {};
  }

  Answer& ask(std::string_view qname, std::string_view qtype, bool dnssec_ok = true) {
    const auto req = amap::app::testing::make_request(qname, qtype);
    Answer& ans = worker->answer();
    app.resolve(*worker, req, ans);
    app.signer()->sign(*worker, req, ans, dnssec_ok, counters);
    return ans;
  }
};

std::vector<const Record*> of_type(const Answer& ans, dns::RRType t, Section s) {
  std::vector<const Record*> out;
  for (const Record& r : ans.records()) {
    if (r.type == t && r.section == s) {
      out.push_back(&r);
    }
  }
  return out;
}

TEST(DnssecSigner, CanonicalOrderAndCache) {
  Fixture f;
  Answer& a = f.ask("two.example.", "PTR");
  auto sigs = of_type(a, dns::rrtype::RRSIG, Section::answer);
  ASSERT_EQ(sigs.size(), 1U);
  const auto first = std::vector<std::uint8_t>(a.rdata(*sigs[0]).begin(), a.rdata(*sigs[0]).end());
  // type PTR, algorithm 13, 2 labels, TTL 60, expiration, inception (aligned day - 1 h).
  ASSERT_GE(first.size(), 18U + 9U + 64U);
  EXPECT_EQ(first[0], 0);
  EXPECT_EQ(first[1], 12);
  EXPECT_EQ(first[2], 13);
  EXPECT_EQ(first[3], 2);
  const std::uint32_t day = 1'800'000'000U - 1'800'000'000U % 86400U;
  auto u32 = [&](std::size_t at) {
    return (std::uint32_t{first[at]} << 24) | (std::uint32_t{first[at + 1]} << 16) |
           (std::uint32_t{first[at + 2]} << 8) | first[at + 3];
  };
  EXPECT_EQ(u32(4), 60U);
  EXPECT_EQ(u32(8), day + 7 * 86400);
  EXPECT_EQ(u32(12), day - 3600);
  EXPECT_EQ(f.hits(), 0U);
  // The same RRset in the other order and case: the same canonical data, a cache hit (ECDSA
  // signatures are randomized, so equal bytes mean the cached one).
  f.reversed = true;
  Answer& b = f.ask("TWO.example.", "PTR");
  sigs = of_type(b, dns::rrtype::RRSIG, Section::answer);
  ASSERT_EQ(sigs.size(), 1U);
  EXPECT_EQ(std::vector<std::uint8_t>(b.rdata(*sigs[0]).begin(), b.rdata(*sigs[0]).end()), first);
  EXPECT_EQ(f.hits(), 1U);
}

TEST(DnssecSigner, CacheComparesTheRRset) {
  // Same owner and type, other RDATA: a miss and a signature of its own, never the cached one.
  Fixture f;
  const auto a = f.rrsig(f.ask("x.many.example.", "PTR"));
  EXPECT_EQ(f.rrsig(f.ask("X.MANY.example.", "PTR")), a);
  f.target = "t1.example.";
  const auto b = f.rrsig(f.ask("x.many.example.", "PTR"));
  ASSERT_FALSE(b.empty());
  EXPECT_NE(b, a);
  EXPECT_EQ(f.ecdsa().cache_misses, 2U);
  EXPECT_EQ(f.ecdsa().signatures, 2U);
  EXPECT_EQ(f.ecdsa().cache_hits, 1U);
  f.target = "T0.example.";  // the first RDATA again, in canonical form: its cached RRSIG
  EXPECT_EQ(f.rrsig(f.ask("x.many.example.", "PTR")), a);
  EXPECT_EQ(f.ecdsa().cache_hits, 2U);
}

TEST(DnssecSigner, SmallCacheKeepsAHotEntryWithoutAllocating) {
  // 8 entries (two sets of four, a log of 1.5 kB): 40 other names go through it between the
  // asks of one hot name, which stays cached (moved to the log's head when it grows old);
  // the others are evicted. Neither a hit nor a miss's bookkeeping allocates once warm.
  for (const auto alg : {dnssec::Algorithm::ecdsap256sha256, dnssec::Algorithm::ed25519}) {
    Fixture f(alg, 8);
    const auto& c =
        f.counters.by_algorithm[amap::app::SigningCounters::index(static_cast<std::uint8_t>(alg))];
    const auto hot = f.rrsig(f.ask("hot.many.example.", "PTR"));
    ASSERT_FALSE(hot.empty());
    for (int i = 0; i < 40; ++i) {
      f.ask("n" + std::to_string(i) + ".many.example.", "PTR");
      const std::size_t before = amap::testing::allocation_count();
      const auto hits = c.cache_hits;
      const auto req = amap::app::testing::make_request("hot.many.example.", "PTR");
      Answer& ans = f.worker->answer();
      f.app.resolve(*f.worker, req, ans);
      f.app.signer()->sign(*f.worker, req, ans, true, f.counters);
      EXPECT_EQ(amap::testing::allocation_count(), before);
      EXPECT_EQ(c.cache_hits, hits + 1);
      EXPECT_EQ(f.rrsig(ans), hot);
    }
    EXPECT_EQ(c.cache_misses, 41U);
    EXPECT_EQ(c.signatures, 41U);
    EXPECT_GE(c.cache_evictions, 40U - 7U);
    EXPECT_EQ(c.failures, 0U);
  }
}

TEST(DnssecSigner, WireHandleWithDoAllocatesNothingOnAHit) {
  // The whole UDP path (parse, resolve, sign, encode) for DO=1 queries: a positive answer,
  // compact denial and the DNSKEY RRset, each answered from the cache once warm.
  Fixture f;
  auto packet = [](std::string_view qname, std::uint16_t qtype) {
    std::vector<std::uint8_t> p = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
    const auto n = name(qname);
    p.insert(p.end(), n.wire().begin(), n.wire().end());
    const std::uint8_t tail[] = {static_cast<std::uint8_t>(qtype >> 8),
                                 static_cast<std::uint8_t>(qtype),
                                 0,
                                 1,
                                 0,
                                 0,
                                 41,
                                 0x04,
                                 0xD0,
                                 0,
                                 0,
                                 0x80,
                                 0,
                                 0,
                                 0};  // OPT, DO=1
    p.insert(p.end(), std::begin(tail), std::end(tail));
    return p;
  };
  const std::vector<std::vector<std::uint8_t>> queries = {
      packet("two.example.", 12), packet("nope.example.", 1), packet("example.", 48)};
  std::vector<std::uint8_t> out(amap::wire::kMaxMessage);
  amap::wire::Counters counters;
  const auto local = dns::IpAddress::v4(0x7F000001U);
  auto once = [&] {
    for (const auto& q : queries) {
      EXPECT_GT(
          amap::wire::handle(*f.worker, q, amap::wire::Transport::udp, local, local, out, counters),
          0U);
    }
  };
  once();
  const auto& c = counters.signing.by_algorithm[0];
  EXPECT_EQ(c.cache_misses, 4U);  // PTR; SOA and NSEC; DNSKEY
  const std::size_t before = amap::testing::allocation_count();
  for (int i = 0; i < 100; ++i) {
    once();
  }
  EXPECT_EQ(amap::testing::allocation_count(), before);
  EXPECT_EQ(c.cache_hits, 400U);
  EXPECT_EQ(c.cache_misses, 4U);
  EXPECT_EQ(c.signatures, 4U);
}

TEST(DnssecSigner, CompactDenial) {
  Fixture f;
  auto nsec_bitmap = [](const Answer& ans) {
    const auto n = of_type(ans, dns::rrtype::NSEC, Section::authority);
    EXPECT_EQ(n.size(), 1U);
    const auto rd = ans.rdata(*n[0]);
    std::size_t used = 0;
    const auto next = dns::Name::read_wire(rd, used);
    EXPECT_TRUE(next);
    return std::pair(
        next ? next->to_string() : std::string(),
        std::vector<std::uint8_t>(rd.begin() + static_cast<std::ptrdiff_t>(used), rd.end()));
  };
  Answer& nx = f.ask("nope.example.", "A");
  EXPECT_EQ(nx.rcode, amap::app::Rcode::noerror);
  auto [next, bits] = nsec_bitmap(nx);
  EXPECT_EQ(next, "\\000.nope.example.");
  // window 0, 17 bytes: RRSIG (46) NSEC (47) NXNAME (128).
  std::vector<std::uint8_t> want(19, 0);
  want[1] = 17;
  want[2 + 5] = 0x03;
  want[2 + 16] = 0x80;
  EXPECT_EQ(bits, want);
  EXPECT_EQ(of_type(nx, dns::rrtype::RRSIG, Section::authority).size(), 2U);  // SOA, NSEC

  Answer& ent = f.ask("y.example.", "A");
  EXPECT_EQ(ent.rcode, amap::app::Rcode::noerror);
  std::tie(next, bits) = nsec_bitmap(ent);
  EXPECT_EQ(bits, (std::vector<std::uint8_t>{0, 6, 0, 0, 0, 0, 0, 0x03}));

  Answer& nodata = f.ask("x.y.example.", "AAAA");
  std::tie(next, bits) = nsec_bitmap(nodata);
  EXPECT_EQ(bits, (std::vector<std::uint8_t>{0, 6, 0x40, 0, 0, 0, 0, 0x03}));  // A RRSIG NSEC

  Answer& apex = f.ask("example.", "TXT");
  std::tie(next, bits) = nsec_bitmap(apex);
  // NS (2) SOA (6) RRSIG NSEC DNSKEY (48)
  EXPECT_EQ(bits, (std::vector<std::uint8_t>{0, 7, 0x22, 0, 0, 0, 0, 0x03, 0x80}));
}

TEST(DnssecSigner, DnskeyWithoutDo) {
  Fixture f;
  Answer& a = f.ask("example.", "DNSKEY", /*dnssec_ok=*/false);
  EXPECT_EQ(of_type(a, dns::rrtype::DNSKEY, Section::answer).size(), 1U);
  EXPECT_TRUE(of_type(a, dns::rrtype::SOA, Section::authority).empty());
  EXPECT_TRUE(of_type(a, dns::rrtype::RRSIG, Section::answer).empty());
  Answer& b = f.ask("example.", "DNSKEY");
  EXPECT_EQ(of_type(b, dns::rrtype::RRSIG, Section::answer).size(), 1U);
}

TEST(DnssecSigner, CacheHitAllocatesNothing) {
  for (const auto alg : {dnssec::Algorithm::ecdsap256sha256, dnssec::Algorithm::ed25519}) {
    Fixture f(alg);
    const auto ptr = amap::app::testing::make_request("two.example.", "PTR");
    const auto nx = amap::app::testing::make_request("nope.example.", "A");
    const auto ent = amap::app::testing::make_request("y.example.", "A");
    auto once = [&] {
      for (const auto* req : {&ptr, &nx, &ent}) {
        Answer& ans = f.worker->answer();
        f.app.resolve(*f.worker, *req, ans);
        f.app.signer()->sign(*f.worker, *req, ans, true, f.counters);
      }
    };
    once();
    const auto hits = f.hits();
    const std::size_t before = amap::testing::allocation_count();
    for (int i = 0; i < 100; ++i) {
      once();
    }
    EXPECT_EQ(amap::testing::allocation_count(), before);
    EXPECT_EQ(f.hits(), hits + 500U);  // 100 x (PTR; SOA+NSEC twice)
  }
}

}  // namespace
