// SPDX-License-Identifier: MIT
#include "mapper/config/config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace amap::config {
namespace {

std::string long_list(std::size_t items, const std::string& tail);

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

/// A scratch directory of its own, removed with what it holds.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "amap-config-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string only_error(const LoadResult& r) {
  return r.errors.size() == 1 ? r.errors[0].to_string()
                              : std::to_string(r.errors.size()) + " errors";
}

const std::string kSmall = kHead +
                           "zones: [ { name: pool.example.net. } ]\n"
                           "prefixes:\n"
                           "  - { prefix: 10.0.0.0/8, name: \"ip-{a}-{b}-{c}-{d}.x.\" }\n";

// Reading it once took the size of a directory as a length (std::bad_alloc, SIGABRT).
TEST(Config, ADirectoryOrADeviceIsRefusedByName) {
  TempDir dir;
  EXPECT_EQ(only_error(load_file(dir.path.string())), dir.path.string() + ": is a directory");
  // /dev/zero never ends: it must be refused, not read until memory runs out.
  const auto r = load_file("/dev/zero");
  EXPECT_EQ(only_error(r).rfind("/dev/zero: is a character device", 0), 0U) << only_error(r);
  EXPECT_EQ(only_error(load_file(dir / "missing.yaml")),
            dir / "missing.yaml" + ": cannot open: No such file or directory");
}

// A FIFO that no writer opens must not block the loader forever; one that a writer feeds is
// read as a stream to its end.
TEST(Config, AFifoIsReadAsAStreamAndNeverWaitsForever) {
  TempDir dir;
  const std::string fifo = dir / "conf.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  LoadOptions quick;
  quick.stream_idle_timeout = std::chrono::milliseconds(200);
  const auto idle = load_file(fifo, quick);
  EXPECT_NE(only_error(idle).find("a pipe that gave no data for 200 ms"), std::string::npos)
      << only_error(idle);

  std::thread writer([&] {
    std::ofstream out(fifo);  // waits for the loader to open the FIFO
    out << kSmall;
  });
  const auto fed = load_file(fifo);
  writer.join();
  EXPECT_TRUE(fed.ok()) << only_error(fed);
  EXPECT_EQ(fed.config.prefixes.size(), 1U);
}

TEST(Config, SizeIsBoundedForFilesAndPipes) {
  TempDir dir;
  { std::ofstream(dir / "c.yaml") << kSmall; }
  LoadOptions small;
  small.max_bytes = kSmall.size() - 1;
  EXPECT_NE(only_error(load_file(dir / "c.yaml", small)).find("larger than the limit"),
            std::string::npos);
  small.max_bytes = kSmall.size();
  EXPECT_TRUE(load_file(dir / "c.yaml", small).ok());

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread writer([&] {
    const std::string junk(1 << 16, '#');
    while (::write(fds[1], junk.data(), junk.size()) > 0) {
    }  // until the loader gives up and closes its end
  });
  small.max_bytes = 1 << 20;
  const auto r = load_file("/dev/fd/" + std::to_string(fds[0]), small);
  ::close(fds[0]);  // the writer's next write fails (EPIPE; SIGPIPE is ignored below)
  writer.join();
  ::close(fds[1]);
  EXPECT_NE(only_error(r).find("larger than the limit of 1 MiB"), std::string::npos)
      << only_error(r);
}

// A file that grows while it is read: the content as it was at open, or an error, never
// what was appended meanwhile. The appender starts at the loader's first read (inotify).
TEST(Config, AFileGrowingWhileReadGivesItsContentAtOpenOrAnError) {
  TempDir dir;
  const std::string path = dir / "c.yaml";
  std::string text = kHead + "zones: [ { name: pool.example.net. } ]\nprefixes:\n";
  for (int i = 0; i < 40000; ++i) {
    text += "  - { prefix: 10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
            ".0/24, blank: true }  # " + std::string(100, '-') + "\n";
  }
  { std::ofstream(path) << text; }
  const int out = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(out, 0);
  const int watch = ::inotify_init1(IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(::inotify_add_watch(watch, path.c_str(), IN_ACCESS), 0);
  std::thread appender([&] {
    alignas(inotify_event) char event[sizeof(inotify_event) + 256];
    if (::read(watch, event, sizeof event) <= 0) {
      return;
    }
    std::string more;
    for (int i = 0; i < 20000; ++i) {
      more += "  - { prefix: 11." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
              ".0/24, blank: true }\n";
    }
    EXPECT_EQ(::write(out, more.data(), more.size()), static_cast<ssize_t>(more.size()));
  });
  const auto r = load_file(path);
  appender.join();
  ::close(watch);
  ::close(out);
  if (r.ok()) {
    EXPECT_EQ(r.config.prefixes.size(), 40000U);
  } else {
    EXPECT_NE(only_error(r).find(": changed while it was read ("), std::string::npos)
        << only_error(r);
  }
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
  EXPECT_EQ(
      errs[0],
      "t.yaml:8:1: bogus: unknown key (expected one of: soa, ns, zones, prefixes, "
      "store, listen, tcp, ttl, rrl, cookies, log, user, group, http, dnssec, identity, pipe)");
  EXPECT_EQ(errs[1],
            "t.yaml:4:13: prefixes[0].prefix: bad prefix '10.0.0.1/8': address has bits "
            "set beyond the prefix length (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(errs[2],
            "t.yaml:7:5: prefixes[1].nmae: unknown key (did you mean 'name'?) (expected one "
            "of: prefix, name, "
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

// Issue 12 section 5: log.level, and user/group for the privilege drop (backend/run.h).
TEST(Config, LogLevelAndUser) {
  auto r = amap::config::load_text(kHead + "log: { level: warning }\nuser: automap\ngroup: adm\n",
                                   "t.yaml");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().to_string());
  EXPECT_EQ(r.config.log_level, amap::config::LogLevel::warning);
  EXPECT_EQ(r.config.user, "automap");
  EXPECT_EQ(r.config.group, "adm");
  auto defaults = amap::config::load_text(kHead, "t.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.config.log_level, amap::config::LogLevel::info);
  EXPECT_TRUE(defaults.config.user.empty());

  auto errs = errors_of(kHead + "log: { level: verbose }\nuser: []\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0], "t.yaml:3:15: log.level: expected debug, info, notice, warning or error");
  EXPECT_EQ(errs[1], "t.yaml:4:7: user: expected the name of a system user");
  errs = errors_of(kHead + "group: adm\n");
  ASSERT_EQ(errs.size(), 1U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:3:8: group: needs user: (the group applies when dropping to that user)");
}

TEST(Config, StoreSyncEtcd) {
  auto r = amap::config::load_text(
      kHead +
          "store:\n  path: /tmp/s\n  sync:\n    etcd: { endpoints: [127.0.0.1:2379, "
          "\"http://[::1]:2379\"], prefix: /a/, max_staleness: 5m, timeout: 3s }\n",
      "t.yaml");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().to_string());
  const auto& e = r.config.store.etcd;
  EXPECT_TRUE(e.present);
  EXPECT_EQ(e.endpoints, (std::vector<std::string>{"127.0.0.1:2379", "[::1]:2379"}));
  EXPECT_EQ(e.prefix, "/a/");
  EXPECT_EQ(e.max_staleness_s, 300U);
  EXPECT_EQ(e.timeout_ms, 3000U);
  EXPECT_FALSE(amap::config::load_text(kHead + "store: { path: /tmp/s }\n", "t.yaml")
                   .config.store.etcd.present);

  auto errs = errors_of(kHead +
                        "store:\n  path: /tmp/s\n  sync:\n    etcd: { endpoints: [localhost, "
                        "\"https://e:2379\", \"http://f:1\"], prefix: /a, max_staleness: 0, "
                        "timeout: 2h }\n");
  ASSERT_EQ(errs.size(), 5U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:6:25: store.sync.etcd.endpoints[0]: expected HOST:PORT, http://HOST:PORT or "
            "https://HOST:PORT such as 127.0.0.1:2379");
  EXPECT_NE(errs[1].find("endpoints[2]: every endpoint must be http or every one https"),
            std::string::npos);
  EXPECT_NE(errs[2].find("store.sync.etcd.prefix: expected a key prefix ending in '/'"),
            std::string::npos);
  EXPECT_NE(errs[3].find("store.sync.etcd.max_staleness:"), std::string::npos);
  EXPECT_NE(errs[4].find("store.sync.etcd.timeout:"), std::string::npos);
  errs = errors_of(kHead + "store: { path: /tmp/s, sync: { etc: {} } }\n");
  ASSERT_GE(errs.size(), 1U);
  EXPECT_NE(errs[0].find("store.sync.etc: unknown key"), std::string::npos) << errs[0];
}

TEST(Config, StoreSyncEtcdTlsAndUser) {
  const std::string dir = ::testing::TempDir();
  const std::string ca = dir + "/config_test_ca.pem";
  { std::ofstream(ca) << "not read by the loader\n"; }
  auto r = amap::config::load_text(
      kHead +
          "store:\n  path: /tmp/s\n  sync:\n    etcd:\n      endpoints: [\"https://e1:2379\", "
          "\"https://[::1]:2379\"]\n      tls: { ca: " +
          ca +
          ", cert: /nonexistent/c.pem, key: /k.pem, server_name: etcd.example }\n"
          "      user: automap\n      password_file: /nonexistent/pw\n",
      "t.yaml");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().to_string());
  const auto& e = r.config.store.etcd;
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.endpoints, (std::vector<std::string>{"e1:2379", "[::1]:2379"}));
  EXPECT_EQ(e.ca.path, ca);
  EXPECT_EQ(e.cert.path, "/nonexistent/c.pem");
  EXPECT_EQ(e.key.path, "/k.pem");
  EXPECT_EQ(e.server_name, "etcd.example");
  EXPECT_EQ(e.user, "automap");
  EXPECT_EQ(e.password_file.path, "/nonexistent/pw");
  // The files are checked apart from the load (a pipe under pdns_server never reads them).
  amap::config::Diagnostics files;
  amap::config::check_etcd_files(r.config, files);
  std::vector<std::string> lines;
  for (const auto& d : files) {
    lines.push_back(d.to_string());
  }
  ASSERT_EQ(lines.size(), 3U) << ::testing::PrintToString(lines);
  EXPECT_NE(lines[0].find("t.yaml:8:50:"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("store.sync.etcd.tls.cert: /nonexistent/c.pem: cannot read: No such "
                          "file or directory"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("store.sync.etcd.tls.key: /k.pem: cannot read"), std::string::npos);
  EXPECT_NE(lines[2].find("t.yaml:10:22: store.sync.etcd.password_file: /nonexistent/pw"),
            std::string::npos)
      << lines[2];

  auto errs = errors_of(kHead +
                        "store:\n  path: /tmp/s\n  sync:\n    etcd: { endpoints: [e:2379], tls: { "
                        "cert: /c.pem, cafile: x }, user: u }\n");
  ASSERT_EQ(errs.size(), 4U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:6:55: store.sync.etcd.tls.cafile: unknown key (expected one of: ca, cert, "
            "key, server_name)");
  errs.erase(errs.begin());
  EXPECT_NE(errs[0].find("store.sync.etcd.tls: the endpoints are http: write them "
                         "https://HOST:PORT"),
            std::string::npos);
  EXPECT_NE(errs[1].find("store.sync.etcd.tls.cert: needs key"), std::string::npos);
  EXPECT_NE(errs[2].find("store.sync.etcd.user: needs password_file"), std::string::npos);
}

// Issue 12 section 6: a mistyped key gets a "did you mean" when one key is within 2 edits;
// a key like none of them gets only the list.
TEST(Config, UnknownKeySuggestsTheClosestKey) {
  auto errs = errors_of(kHead + "prefixs: []\nlistne: []\nstroe: { path: /x }\nzzz: 1\n");
  ASSERT_EQ(errs.size(), 4U) << ::testing::PrintToString(errs);
  const std::string keys =
      " (expected one of: soa, ns, zones, prefixes, store, listen, tcp, ttl, rrl, cookies, log, "
      "user, group, http, dnssec, identity, pipe)";
  EXPECT_EQ(errs[0], "t.yaml:3:1: prefixs: unknown key (did you mean 'prefixes'?)" + keys);
  EXPECT_EQ(errs[1], "t.yaml:4:1: listne: unknown key (did you mean 'listen'?)" + keys);
  EXPECT_EQ(errs[2], "t.yaml:5:1: stroe: unknown key (did you mean 'store'?)" + keys);
  EXPECT_EQ(errs[3], "t.yaml:6:1: zzz: unknown key" + keys);
}

// pipe.counters_dir: an absolute directory, off when unset.
TEST(Config, PipeCountersDir) {
  auto r = load_text(kSmall + "pipe: { counters_dir: /run/automap/pipe }\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << only_error(r);
  EXPECT_EQ(r.config.pipe_counters_dir, "/run/automap/pipe");
  EXPECT_TRUE(load_text(kSmall, "t.yaml").config.pipe_counters_dir.empty());
  auto errs = errors_of(kHead + "pipe: { counters_dir: run/pipe, counter_dir: /x }\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:3:33: pipe.counter_dir: unknown key (did you mean 'counters_dir'?) "
            "(expected one of: counters_dir)");
  EXPECT_EQ(errs[1],
            "t.yaml:3:23: pipe.counters_dir: expected an absolute directory path such as "
            "/run/automap/pipe (writable by the PowerDNS user, readable by automapd)");
}

// Issue 12 section 6: `localhost` is not resolved (it may be 127.0.0.1, ::1 or both): it is
// refused with the literal addresses to write instead.
TEST(Config, ListenLocalhostIsRefusedWithTheAddressesToUse) {
  auto errs = errors_of(kHead + "listen: [\"localhost:5353\", \"LOCALHOST.:53\"]\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:3:10: listen[0]: 'localhost:5353': names are not resolved, use "
            "127.0.0.1:5353 or [::1]:5353 (list both for both)");
  EXPECT_EQ(errs[1],
            "t.yaml:3:28: listen[1]: 'LOCALHOST.:53': names are not resolved, use "
            "127.0.0.1:53 or [::1]:53 (list both for both)");
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

TEST(Config, AliasesAndNulls) {
  auto r = load_text(kHead +
                         "prefixes:\n"
                         "  - prefix: 10.0.0.0/8\n"
                         "    name: &t \"ip-{ip}.x.\"\n"
                         "  - prefix: 10.1.0.0/16\n"
                         "    name: *t\n"
                         "    ttl: ~\n"
                         "...\n",
                     "t.yaml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].to_string(), "t.yaml:8:10: prefixes[1].ttl: expected a number");
  ASSERT_EQ(r.config.prefixes.size(), 2U);
  EXPECT_EQ(r.config.prefixes[1].name_template, "ip-{ip}.x.");
  EXPECT_EQ(r.config.prefixes[1].name_mark.line, 5);  // an alias is its anchored node
}

// Inputs once accepted silently (issue 17, item 12).
TEST(Config, APrefixNeedsItsLength) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - { prefix: 10.0.0.0, blank: true }\n"
                        "  - { prefix: \"2001:db8::\", blank: true }\n"
                        "  - { prefix: 10.1.0.0/32, blank: true }\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:4:15: prefixes[0].prefix: prefix '10.0.0.0' has no length: write it as "
            "ADDRESS/LENGTH (10.0.0.0/8; /32 or /128 for one address)");
  EXPECT_NE(errs[1].find("t.yaml:5:15: prefixes[1].prefix: prefix '2001:db8::' has no length"),
            std::string::npos);
}

TEST(Config, AZoneIdIsAnError) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - { prefix: \"fe80::%eth0/64\", blank: true }\n"
                        "  - { prefix: \"fe80::/64%eth0\", blank: true }\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:4:15: prefixes[0].prefix: bad prefix 'fe80::%eth0/64': an interface zone id "
            "(%eth0) has no meaning here: give the address alone");
  EXPECT_NE(errs[1].find("prefixes[1].prefix: bad prefix 'fe80::/64%eth0': an interface zone"),
            std::string::npos);
}

TEST(Config, ASecondDocumentIsAnError) {
  const std::string one = kHead + "prefixes:\n  - { prefix: 10.0.0.0/8, blank: true }\n";
  EXPECT_EQ(errors_of("---\n" + one + "...\n").size(), 0U);  // markers of one document
  auto errs = errors_of(one + "---\nprefixes:\n  - { prefix: 10.1.0.0/16, blank: true }\n");
  ASSERT_EQ(errs.size(), 1U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0].rfind("t.yaml:5:1: a second YAML document starts here", 0), 0U) << errs[0];
  // Even an empty one, and after a long streamed list.
  EXPECT_EQ(errors_of(one + "---\n").at(0).rfind("t.yaml:5:1: a second YAML document", 0), 0U);
  auto long_errs = errors_of(long_list(3000, "---\nbogus: 1\n"));
  ASSERT_FALSE(long_errs.empty());
  EXPECT_NE(long_errs.back().find("a second YAML document starts here"), std::string::npos);
}

TEST(Config, AnUnterminatedQuoteIsReportedWhereItOpens) {
  // The quote after `name:` once swallowed `ttl` and the next item up to the next quote, and
  // came out as a template error.
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - prefix: 10.0.0.0/8\n"
                        "    name: \"ip-{ip}.x.\n"
                        "    ttl: 60\n"
                        "  - prefix: 10.1.0.0/16\n"
                        "    name: \"b-{ip}.x.\"\n");
  ASSERT_EQ(errs.size(), 1U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:5:11: unterminated quote: the double-quoted string opened here does not "
            "close on its line (a quoted value must close on the line it opens)");
  // Open to the end of the file (yaml-cpp takes that), single quotes, inside a flow map.
  EXPECT_EQ(errors_of(kHead + "ttl: 'abc\n")
                .at(0)
                .rfind("t.yaml:3:6: unterminated quote: the "
                       "single-quoted",
                       0),
            0U);
  EXPECT_EQ(errors_of(kHead + "prefixes: [ { prefix: \"10.0.0.0/8, blank: true },\n"
                              "  { prefix: 10.1.0.0/16, blank: true } ]\n")
                .at(0)
                .rfind("t.yaml:3:23: unterminated quote", 0),
            0U);
  // After a UTF-8 byte order mark too.
  EXPECT_EQ(errors_of("\xEF\xBB\xBF" + kHead + "ttl: \"5\nzones: []\n")
                .at(0)
                .rfind("t.yaml:3:6: unterminated quote", 0),
            0U);
  // Quotes that close, with escapes and a quote in a comment.
  EXPECT_EQ(
      errors_of(kHead + "zones: [ { name: \"a\\\".b.\" }, { name: 'it''s.c.' } ]  # \"\n").size(),
      0U);
  EXPECT_TRUE(load_text(kHead + "prefixes: [ { prefix: '10.0.0.0/8', blank: \"true\" } ]\n").ok());
}

// Error lines quote the file's bytes; binary YAML once put raw bytes in the log.
TEST(Config, ErrorLinesEscapeWhatIsNotPrintable) {
  auto errs = errors_of(kHead + "\xff\xfe\x01k\xc3\xa9: 1\nttl: \"\\x1b[31m\\t\\u0085\"\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0].rfind("t.yaml:3:1: \\xFF\\xFE\\x01k\xc3\xa9: unknown key", 0), 0U) << errs[0];
  EXPECT_EQ(errs[1],
            "t.yaml:4:6: ttl: expected a non-negative integer, got '\\x1B[31m\\x09\\xC2\\x85'");
  // The euro sign stays; a cut sequence, an overlong '/', a surrogate, DEL and U+202E (right
  // to left override) do not.
  EXPECT_EQ(printable("ok \xe2\x82\xac \xe2\x82 \xc0\xaf \xed\xa0\x80 \x7f \xe2\x80\xae"),
            "ok \xe2\x82\xac \\xE2\\x82 \\xC0\\xAF \\xED\\xA0\\x80 \\x7F \\xE2\\x80\\xAE");
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

TEST(Config, TcpSectionDefaultsValuesAndRanges) {
  const std::string base = kHead + "zones: [ { name: pool.example.net. } ]\n";
  auto d = load_text(base, "t.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.config.tcp.max_connections, 256U);
  EXPECT_EQ(d.config.tcp.max_connections_per_client, 16U);
  EXPECT_EQ(d.config.tcp.busy_idle_timeout_ms, 1000U);
  auto r = load_text(base +
                         "tcp: { max_connections: 64, max_connections_per_client: 0, "
                         "idle_timeout_ms: 5000, busy_idle_timeout_ms: 200, io_timeout_ms: 300 }\n",
                     "t.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.tcp.max_connections, 64U);
  EXPECT_EQ(r.config.tcp.max_connections_per_client, 0U);
  EXPECT_EQ(r.config.tcp.idle_timeout_ms, 5000U);
  EXPECT_EQ(r.config.tcp.busy_idle_timeout_ms, 200U);
  EXPECT_EQ(r.config.tcp.io_timeout_ms, 300U);
  // Every error at once, each at its value.
  EXPECT_EQ(errors_of(base + "tcp:\n  max_connections: 0\n  idle_timeout_ms: 0\n  burst: 3\n"),
            (std::vector<std::string>{
                "t.yaml:7:3: tcp.burst: unknown key (expected one of: max_connections, "
                "max_connections_per_client, idle_timeout_ms, busy_idle_timeout_ms, "
                "io_timeout_ms)",
                "t.yaml:5:20: tcp.max_connections: must be at least 1",
                "t.yaml:6:20: tcp.idle_timeout_ms: must be at least 1"}));
  EXPECT_EQ(errors_of(base + "tcp: { max_connections: 8, max_connections_per_client: 9 }\n"),
            (std::vector<std::string>{"t.yaml:4:56: tcp.max_connections_per_client: is larger "
                                      "than tcp.max_connections (8)"}));
}

}  // namespace
}  // namespace amap::config
