// SPDX-License-Identifier: MIT
// The serve() loop over real file descriptors, and the golden transcripts: every
// tests/transcripts/pipe/<app>-<case>.in is fed to the example app <app> through serve() and
// the output must equal <case>.out byte for byte. AMAP_UPDATE_TRANSCRIPTS=1 rewrites the
// .out files instead (review the diff before committing them).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "backend/pipe/serve.h"
#include "tests/unit/pipe_test_support.h"

namespace amap::pipe {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs serve() with `input` on a socket written by a thread in chunks of `chunk` bytes, so
/// lines arrive split and merged arbitrarily. Returns the output and sets `status`.
std::string serve_chunked(Session& session, const std::string& input, std::size_t chunk,
                          int& status, ServeOptions options = {}) {
  int in[2];
  int out[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, in), 0);
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, out), 0);
  std::thread writer([&] {
    for (std::size_t at = 0; at < input.size(); at += chunk) {
      const std::size_t n = std::min(chunk, input.size() - at);
      if (::send(in[1], input.data() + at, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
        break;  // the reader went away (session ended)
      }
    }
    ::close(in[1]);
  });
  std::string output;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) {
      output.append(buf, static_cast<std::size_t>(n));
    }
  });
  status = serve(session, in[0], out[1], options);
  ::close(in[0]);
  ::close(out[1]);
  writer.join();
  reader.join();
  ::close(out[0]);
  return output;
}

std::string serve_file(Session& session, const fs::path& input, int& status) {
  FILE* in = std::fopen(input.c_str(), "rb");
  FILE* out = std::tmpfile();
  EXPECT_NE(in, nullptr);
  EXPECT_NE(out, nullptr);
  status = serve(session, ::fileno(in), ::fileno(out));
  std::fclose(in);
  std::rewind(out);
  std::string result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, out)) > 0) {
    result.append(buf, n);
  }
  std::fclose(out);
  return result;
}

TEST(pipe_serve, Transcripts) {
  const fs::path dir = AMAP_PIPE_TRANSCRIPTS;
  const bool update = std::getenv("AMAP_UPDATE_TRANSCRIPTS") != nullptr;
  int count = 0;
  std::vector<fs::path> inputs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".in") {
      inputs.push_back(e.path());
    }
  }
  std::sort(inputs.begin(), inputs.end());
  for (const fs::path& in : inputs) {
    const std::string stem = in.stem().string();
    const std::string app_name = stem.substr(0, stem.find('-'));
    SCOPED_TRACE(stem);
    const app::App app = test::example_app(app_name);
    app::Worker worker(app);
    Session session(worker, test::example_options(app_name));
    int status = -1;
    const std::string got = serve_file(session, in, status);
    fs::path out = in;
    out.replace_extension(".out");
    if (update) {
      std::ofstream(out, std::ios::binary) << got;
    }
    EXPECT_EQ(got, read_file(out)) << "diff " << out << " against the actual output";
    // The unsupported-HELO transcript ends the session with status 1; the others at EOF, 0.
    EXPECT_EQ(status, stem.find("unsupported") != std::string::npos ? 1 : 0);
    ++count;
  }
  EXPECT_GE(count, 8);
}

// Same transcripts, delivered 1, 3 and 7 bytes at a time: identical output.
TEST(pipe_serve, TranscriptsSplitAcrossReads) {
  const fs::path dir = AMAP_PIPE_TRANSCRIPTS;
  for (const char* stem : {"hello-abi1", "hello-abi5", "whoami-abi3"}) {
    const std::string app_name = std::string(stem).substr(0, std::string(stem).find('-'));
    const std::string input = read_file(dir / (std::string(stem) + ".in"));
    const std::string want = read_file(dir / (std::string(stem) + ".out"));
    for (std::size_t chunk : {1U, 3U, 7U, 4096U}) {
      const app::App app = test::example_app(app_name);
      app::Worker worker(app);
      Session session(worker, test::example_options(app_name));
      int status = -1;
      EXPECT_EQ(serve_chunked(session, input, chunk, status), want) << stem << " chunk " << chunk;
      EXPECT_EQ(status, 0);
    }
  }
}

TEST(pipe_serve, OversizedLineIsDroppedAndServingContinues) {
  const app::App app = examples::hello_app();
  app::Worker worker(app);
  Session session(worker, test::example_options("hello"));
  ServeOptions small;
  small.max_line = 64;
  const std::string input =
      "HELO\t1\n" + std::string(1000, 'x') + "\nQ\thello.example\tIN\tTXT\t-1\t192.0.2.1\n";
  for (std::size_t chunk : {1U, 10U, 5000U}) {
    app::Worker s_worker(app);
    Session s(s_worker, test::example_options("hello"));
    int status = -1;
    EXPECT_EQ(serve_chunked(s, input, chunk, status, small),
              "OK\tautomap pipe backend\n"
              "LOG\tline longer than 64 bytes, dropped\nFAIL\n"
              "DATA\thello.example\tIN\tTXT\t86400\t-1\t\"Hello World!\"\nEND\n")
        << chunk;
    EXPECT_EQ(status, 0);
  }
}

TEST(pipe_serve, LastLineWithoutNewlineIsAnswered) {
  const app::App app = examples::hello_app();
  app::Worker worker(app);
  Session session(worker, test::example_options("hello"));
  int status = -1;
  EXPECT_EQ(serve_chunked(session, "HELO\t1\nQ\thello.example\tIN\tA\t-1\t192.0.2.1", 5, status),
            "OK\tautomap pipe backend\nEND\n");
  EXPECT_EQ(status, 0);
}

TEST(pipe_serve, UnsupportedHeloExitsAfterOneMoreLine) {
  const app::App app = examples::hello_app();
  app::Worker worker(app);
  Session session(worker, test::example_options("hello"));
  int status = -1;
  // Lines after the one read following FAIL are never answered.
  EXPECT_EQ(
      serve_chunked(session, "HELO\t9\nnext\nHELO\t1\nQ\tx\tIN\tA\t-1\t192.0.2.1\n", 100, status),
      "FAIL\n");
  EXPECT_EQ(status, 1);
  EXPECT_TRUE(session.done());
}

TEST(pipe_serve, EndOfInputRightAfterUnsupportedHelo) {
  const app::App app = examples::hello_app();
  app::Worker worker(app);
  Session session(worker, test::example_options("hello"));
  int status = -1;
  EXPECT_EQ(serve_chunked(session, "HELO\t9\n", 100, status), "FAIL\n");
  EXPECT_EQ(status, 1);
}

TEST(pipe_serve, ClosedOutputEndsCleanly) {
  const app::App app = examples::hello_app();
  app::Worker worker(app);
  Session session(worker, test::example_options("hello"));
  int in[2];
  int out[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, in), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, out), 0);
  ::close(out[0]);  // PowerDNS went away: writes fail with EPIPE
  const std::string input = "HELO\t1\n";
  ASSERT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  // MSG_NOSIGNAL is not available to write(2); ignore SIGPIPE as amap::run does.
  struct sigaction old {};
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  EXPECT_EQ(serve(session, in[0], out[1]), 0);
  ::sigaction(SIGPIPE, &old, nullptr);
  ::close(in[0]);
  ::close(out[1]);
}

}  // namespace
}  // namespace amap::pipe
