// SPDX-License-Identifier: MIT
#include "backend/server/server.h"

#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <atomic>

#include "backend/server/notify.h"
// Asio 1.18's scheduler trips GCC 12's flow-based -Wnull-dereference once inlined; the
// warning is about Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio.hpp>
#pragma GCC diagnostic pop
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>

#include "mapper/app/log.h"
#include "mapper/app/snapshot.h"
#include "mapper/app/worker.h"
#include "mapper/sync/counter.h"

namespace amap::server {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;
using sync::bump;
using sync::peek;

// ---------------------------------------------------------------------------------------
// Endpoint

namespace {

/// Why `text` is not a listen address. Host names are not resolved: `localhost` would be
/// 127.0.0.1 or ::1 (or both) depending on /etc/hosts, so it is refused with the literal
/// addresses to use instead.
std::string bad_listen_address(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  std::string host = text.substr(0, colon);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (colon != std::string::npos && (host == "localhost" || host == "localhost.")) {
    const std::string port = text.substr(colon + 1);
    return "bad listen address '" + text + "': names are not resolved, use 127.0.0.1:" + port +
           " or [::1]:" + port + " (give both for both)";
  }
  return "bad listen address '" + text + "' (want ADDR:PORT or [ADDR]:PORT)";
}

}  // namespace

std::optional<Endpoint> Endpoint::parse(std::string_view text) noexcept {
  std::string_view addr;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    addr = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    addr = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (addr.find(':') != std::string_view::npos) {
      return std::nullopt;  // IPv6 needs brackets
    }
  }
  auto ip = dns::IpAddress::parse(addr);
  if (!ip || port.empty()) {
    return std::nullopt;
  }
  if (text.front() == '[' && !ip->is_v6()) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  return Endpoint{*ip, static_cast<std::uint16_t>(value)};
}

std::string Endpoint::to_string() const {
  const std::string a = address.to_string();
  const std::string p = std::to_string(port);
  return address.is_v6() ? "[" + a + "]:" + p : a + ":" + p;
}

namespace {

/// Thrown inside start() when stop() was called meanwhile (SIGTERM during a long start-up).
struct StartInterrupted : std::runtime_error {
  StartInterrupted() : std::runtime_error("stop requested") {}
};

asio::ip::address to_asio(const dns::IpAddress& a) {
  if (a.is_v4()) {
    return asio::ip::address_v4(a.v4_value());
  }
  asio::ip::address_v6::bytes_type b;
  for (std::size_t i = 0; i < 16; ++i) {
    b[i] = a.bytes()[i];
  }
  return asio::ip::address_v6(b);
}

dns::IpAddress from_asio(const asio::ip::address& a) noexcept {
  if (a.is_v4()) {
    return dns::IpAddress::v4(a.to_v4().to_uint());
  }
  const auto b = a.to_v6().to_bytes();
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < 16; ++i) {
    out[i] = b[i];
  }
  return dns::IpAddress::v6(out);
}

/// The sender of a datagram as recvmmsg filled it in (AF_INET or AF_INET6: v6 sockets are
/// v6-only, so no mapped addresses). memcpy, not a cast: sockaddr_storage does not alias.
dns::IpAddress from_sockaddr(const sockaddr_storage& ss) noexcept {
  if (ss.ss_family == AF_INET6) {
    sockaddr_in6 a;
    std::memcpy(&a, &ss, sizeof a);
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), a.sin6_addr.s6_addr, b.size());
    return dns::IpAddress::v6(b);
  }
  sockaddr_in a;
  std::memcpy(&a, &ss, sizeof a);
  return dns::IpAddress::v4(ntohl(a.sin_addr.s_addr));
}

template <class Socket>
void set_reuse_port(Socket& s) {
  int one = 1;
  if (::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::system_error(errno, std::generic_category(), "setsockopt(SO_REUSEPORT)");
  }
}

template <class Socket, class Proto>
void open_socket(Socket& s, const Proto& proto, bool v6) {
  s.open(proto);
  if (v6) {
    // Keep "[::]:53" and "0.0.0.0:53" independent.
    s.set_option(asio::ip::v6_only(true));
  }
}

}  // namespace

/// A TCP connection's message buffers: 64 KiB in, 64 KiB + 2 out, in one anonymous mapping
/// of its own, unmapped when the connection ends. Only the pages a message touches become
/// resident, and the whole mapping goes back to the kernel at once: heap blocks of this size
/// (under glibc's grown mmap threshold) stayed in the TCP thread's arena after their
/// connections closed (RSS stayed up by 128 KiB per connection once seen).
class TcpBuffer {
 public:
  static constexpr std::size_t kInSize = 65536;  // a message is at most 65535 bytes
  static constexpr std::size_t kOutSize = wire::kMaxMessage + 2;

  TcpBuffer() = default;
  TcpBuffer(TcpBuffer&& o) noexcept : base_(std::exchange(o.base_, nullptr)) {}
  TcpBuffer& operator=(TcpBuffer&& o) noexcept {
    std::swap(base_, o.base_);
    return *this;
  }
  TcpBuffer(const TcpBuffer&) = delete;
  TcpBuffer& operator=(const TcpBuffer&) = delete;
  ~TcpBuffer() {
    if (base_ != nullptr) {
      ::munmap(base_, kMapSize);
    }
  }

  /// Empty (false) when the mapping fails.
  static TcpBuffer allocate() noexcept {
    TcpBuffer b;
    void* p = ::mmap(nullptr, kMapSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      b.base_ = static_cast<std::uint8_t*>(p);
    }
    return b;
  }
  explicit operator bool() const noexcept { return base_ != nullptr; }
  std::uint8_t* in() const noexcept { return base_; }
  std::uint8_t* out() const noexcept { return base_ + kInSize; }

 private:
  static constexpr std::size_t kMapSize = (kInSize + kOutSize + 4095) / 4096 * 4096;
  std::uint8_t* base_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// Impl

struct Server::Impl {
  /// A thread's view of the published app and its app::Worker for it: re-read only when the
  /// app snapshot moved, so the hot path costs one acquire load. A new app (reload) gets a
  /// new Worker: its slots are the new app's.
  struct AppView {
    app::Snapshot<app::App>::View app;
    std::optional<app::Worker> worker;  // for the app `app` holds

    app::Worker& get(const Impl& s) {
      if (!worker || s.app_.version() != app.version()) {
        worker.reset();  // before the app it refers to, which get() may free
        worker.emplace(*app.get(s.app_));
      }
      return *worker;
    }
  };

  /// Datagrams per recvmmsg/sendmmsg call.
  static constexpr unsigned kBatch = 32;
  /// Receive slots hold any UDP datagram (as the old 64 KiB buffer did, so nothing is ever
  /// truncated); the extra 64 bytes stagger the slots over the L1 sets. Only the bytes the
  /// kernel writes are ever touched, so the slots cost address space, not memory.
  static constexpr std::size_t kInStride = 65536 + 64;
  /// sendmmsg calls that made no progress (EAGAIN/ENOBUFS) before the rest is dropped.
  static constexpr unsigned kSendStalls = 3;

  /// How long a worker blocks in recvmmsg before it looks at the stop flag again. stop()
  /// also wakes it at once (shutdown), so this only bounds a missed wake-up.
  static constexpr long kRecvTimeoutMs = 250;

  /// One worker: a thread that owns one socket (of one listen address) and its batch arrays.
  struct UdpWorker {
    UdpWorker(asio::io_context& ctx, std::size_t out_slot_size)
        : sock(ctx),
          in(std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * kInStride)),
          out(std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * out_slot_size)),
          out_slot(out_slot_size) {
      for (unsigned i = 0; i < kBatch; ++i) {
        rx_iov[i] = iovec{in.get() + i * kInStride, wire::kMaxMessage};
        rx[i] = mmsghdr{};
        rx[i].msg_hdr.msg_name = &peer[i];
        rx[i].msg_hdr.msg_iov = &rx_iov[i];
        rx[i].msg_hdr.msg_iovlen = 1;
        tx[i] = mmsghdr{};
        tx[i].msg_hdr.msg_iov = &tx_iov[i];
        tx[i].msg_hdr.msg_iovlen = 1;
      }
    }

    udp::socket sock;      // opened and bound through Asio; read with plain blocking syscalls
    dns::IpAddress local;  // the listen address (the wildcard for 0.0.0.0 / [::])
    std::unique_ptr<std::uint8_t[]> in;   // kBatch slots of kInStride
    std::unique_ptr<std::uint8_t[]> out;  // kBatch slots of out_slot
    std::size_t out_slot;
    std::array<mmsghdr, kBatch> rx;
    std::array<iovec, kBatch> rx_iov;
    std::array<sockaddr_storage, kBatch> peer;  // senders; answers go back to the same bytes
    std::array<mmsghdr, kBatch> tx;
    std::array<iovec, kBatch> tx_iov;
    wire::Counters counters;
    std::uint64_t batches = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t send_dropped = 0;
    std::uint64_t recv_errors = 0;
    RrlCounters rrl;
    Durations durations;
    AppView view;
    /// Set by stop() or by a rebind that drops this worker's address.
    std::atomic<bool> stopping{false};
    /// steady_clock milliseconds at the top of its last loop round (the watchdog reads it).
    std::atomic<std::int64_t> heartbeat_ms{0};
    std::thread thread;
  };

  struct TcpConn;

  /// Shared with its pending accept handler, so that a rebind can drop it while an accept
  /// is still queued on the TCP thread.
  struct Acceptor {
    explicit Acceptor(asio::io_context& ctx) : acceptor(ctx), retry(ctx) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry;
    dns::IpAddress local;
  };

  /// One listen address: its UDP workers and its TCP acceptor, bound to one port.
  struct Listener {
    Endpoint want;   // as configured (port 0: ephemeral)
    Endpoint bound;  // the port it got
    std::vector<std::unique_ptr<UdpWorker>> workers;
    std::shared_ptr<Acceptor> acceptor;  // null without TCP
  };

  Impl(std::shared_ptr<const app::App> a, ServeOptions o) : opt(std::move(o)), app_(std::move(a)) {
    if (!app_.current()) {
      throw std::invalid_argument("no app");
    }
    for (const std::string& s : opt.listen) {
      auto ep = Endpoint::parse(s);
      if (!ep) {
        throw std::invalid_argument(bad_listen_address(s));
      }
      endpoints.push_back(*ep);
    }
    if (endpoints.empty()) {
      throw std::invalid_argument("nothing to listen on");
    }
    if (!opt.udp && !opt.tcp) {
      throw std::invalid_argument("both udp and tcp are disabled");
    }
    if (opt.threads > kMaxThreads) {
      throw std::invalid_argument("threads " + std::to_string(opt.threads) +
                                  " is above the limit of " + std::to_string(kMaxThreads) +
                                  " UDP workers per listen address");
    }
    limits = TcpLimits{opt.max_tcp_connections, opt.max_tcp_connections_per_client,
                       opt.tcp_idle_timeout, opt.tcp_busy_idle_timeout, opt.tcp_io_timeout};
    logged_max_connections = limits.max_connections;
    threads = opt.threads != 0 ? opt.threads : std::thread::hardware_concurrency();
    if (threads == 0) {
      threads = 1;
    }
    if (opt.rrl.enabled && opt.udp) {
      rrl = std::make_unique<ResponseRateLimiter>(opt.rrl);
    }
    if (opt.cookies.enabled) {
      cookie_jar = std::make_unique<CookieJar>(opt.cookies);
      opt.policy.cookies = cookie_jar.get();
    }
  }

  void bind_all();
  void start_threads();
  void stop();
  void rebind(const std::vector<std::string>& listen);
  std::unique_ptr<Listener> make_listener(const Endpoint& want);
  void bind_listener(Listener& l);
  void start_listener(Listener& l);
  void retire_listener(Listener& l);
  void run_udp(UdpWorker& w);
  static void send_udp(UdpWorker& w, int fd, unsigned count);
  void arm_accept(const std::shared_ptr<Acceptor>& a);
  void accept(tcp::socket sock);
  /// More than 3/4 of the TCP slots are taken (RFC 7766 6.2.3: idle connections then get
  /// tcp_busy_idle_timeout). TCP thread only.
  bool tcp_busy() const noexcept { return conns.size() * 4 > limits.max_connections * 3; }
  void shorten_idle_connections();

  ServeOptions opt;
  std::vector<Endpoint> endpoints;  // from opt.listen, checked by the constructor
  unsigned threads = 1;             // UDP workers per listen address

  app::Snapshot<app::App> app_;  // never null
  /// Counts the apps published (1, 2, 3...: the "generation N" of the logs and the service
  /// status); the snapshot's own versions are process-wide.
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<std::uint64_t> reloads_ok{0};
  std::atomic<std::uint64_t> reloads_failed{0};
  /// ServeOptions::serial, then each good reload's Reload::serial.
  std::atomic<std::uint64_t> serial{0};
  /// The start, then the last good reload (system_clock seconds).
  std::atomic<std::int64_t> last_reload_ok_unix{
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count()};

  /// Only owns the UDP sockets (open/bind/close); never run: the workers block in recvmmsg.
  asio::io_context udp_ctx{1};
  std::unique_ptr<ResponseRateLimiter> rrl;  // shared by the UDP workers; null when off
  std::unique_ptr<CookieJar> cookie_jar;     // opt.policy.cookies; null when off

  // Declared before tcp_ctx: connections still queued in the context unregister themselves
  // from this set when the context is destroyed.
  std::unordered_set<TcpConn*> conns;  // tcp thread only
  asio::io_context tcp_ctx{1};
  /// Keeps the TCP thread running while a rebind swaps the acceptors; reset by stop().
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> tcp_work;

  /// Guards `listeners` and `retired` against readers on other threads (local_endpoints,
  /// counters) while a rebind changes them; never taken on the query path. Declared after
  /// both contexts: the sockets must go before the contexts that own them.
  mutable std::mutex listen_mu;
  std::vector<std::unique_ptr<Listener>> listeners;
  /// Counters of UDP workers whose address a rebind dropped.
  Stats retired;
  wire::Counters tcp_counters;
  Durations tcp_durations;
  /// conns.size(), kept for readers on other threads (written on the TCP thread only).
  std::uint64_t tcp_current = 0;
  AppView tcp_view;  // tcp thread only: handle() is synchronous
  std::uint64_t tcp_accepted = 0;
  std::uint64_t tcp_rejected = 0;
  std::uint64_t tcp_rejected_per_client = 0;
  /// The TCP limits in force (from opt, then set_tcp_limits()). TCP thread only.
  TcpLimits limits;
  std::atomic<std::size_t> logged_max_connections{0};  // for the "listening tcp" line
  std::uint64_t tcp_timeouts = 0;
  std::uint64_t tcp_busy_timeouts = 0;
  std::uint64_t tcp_bad_length = 0;
  std::thread tcp_thread;
  /// Set by a task stalled() posts to the TCP thread: it ran, so that thread is not stuck.
  std::atomic<std::int64_t> tcp_heartbeat_ms{0};

  mutable std::mutex life_mu;
  std::condition_variable life_cv;
  /// Set by stop() before it takes life_mu, so that a start() in progress gives up.
  std::atomic<bool> stop_requested{false};
  bool started = false;
  bool stopped = false;
};

// ---------------------------------------------------------------------------------------
// TCP connection (RFC 7766): [len hi][len lo][message] ... on the single TCP thread.
//
// States: waiting for the first length byte (idle timeout), then the second byte and the body
// (per-message timeout), then writing the answer (per-message timeout). The timer is one
// steady_timer per connection whose expiry closes the socket; each state re-arms it.

struct Server::Impl::TcpConn : std::enable_shared_from_this<TcpConn> {
  TcpConn(Impl& s, tcp::socket sock, const dns::IpAddress& peer, TcpBuffer buf)
      : srv(s), socket(std::move(sock)), timer(srv.tcp_ctx), buffer(std::move(buf)), remote(peer) {}
  ~TcpConn() {
    srv.conns.erase(this);
    sync::set(srv.tcp_current, srv.conns.size());
  }

  void start() {
    boost::system::error_code ec;
    const auto l = socket.local_endpoint(ec);
    if (!ec) {
      local = from_asio(l.address());
    }
    read_first();
  }

  void close() {
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    timer.cancel();
  }

  void arm_at(Clock::time_point deadline) {
    timer.expires_at(deadline);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      // A wait that completed just before a re-arm still reports success: re-check.
      if (!ec && self->timer.expiry() <= Clock::now() && self->socket.is_open()) {
        bump(self->srv.tcp_timeouts);
        if (self->idle && self->timer.expiry() < self->idle_since + self->srv.limits.idle_timeout) {
          bump(self->srv.tcp_busy_timeouts);  // closed early because the slots ran short
        }
        self->close();
      }
    });
  }

  /// Under pressure (see Impl::tcp_busy) an idle connection may stay only
  /// tcp_busy_idle_timeout; the deadline counts from when it became idle.
  Clock::time_point idle_deadline() const {
    return idle_since + (srv.tcp_busy()
                             ? std::min(srv.limits.idle_timeout, srv.limits.busy_idle_timeout)
                             : srv.limits.idle_timeout);
  }

  /// Pressure began: move an idle connection's deadline forward (never back).
  void shorten_idle() {
    if (idle && socket.is_open()) {
      const Clock::time_point d = idle_deadline();
      if (d < timer.expiry()) {
        arm_at(d);
      }
    }
  }

  void read_first() {
    idle = true;
    idle_since = Clock::now();
    arm_at(idle_deadline());
    asio::async_read(socket, asio::buffer(prefix, 1),
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       self->idle = false;
                       if (ec) {
                         self->close();
                         return;
                       }
                       self->read_second();
                     });
  }

  void read_second() {
    arm_at(Clock::now() + srv.limits.io_timeout);
    asio::async_read(socket, asio::buffer(prefix + 1, 1),
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       if (ec) {
                         self->close();
                         return;
                       }
                       self->read_body();
                     });
  }

  void read_body() {
    const std::size_t len = (std::size_t{prefix[0]} << 8) | prefix[1];
    if (len < wire::kHeaderSize) {
      // Shorter than a header: the stream cannot be trusted any more (NSD tcp_underrun).
      bump(srv.tcp_bad_length);
      close();
      return;
    }
    // Read exactly the declared length, never beyond it.
    asio::async_read(
        socket, asio::buffer(buffer.in(), len),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (ec) {
            self->close();
            return;
          }
          self->received = Clock::now();  // the request-duration histogram starts here
          self->process(n);
        });
  }

  void process(std::size_t n) {
    app::Worker& worker = srv.tcp_view.get(srv);
    std::uint8_t* out = buffer.out();
    const std::size_t len =
        wire::handle(worker, std::span<const std::uint8_t>(buffer.in(), n), wire::Transport::tcp,
                     remote, local, std::span<std::uint8_t>(out + 2, TcpBuffer::kOutSize - 2),
                     srv.tcp_counters, srv.opt.policy);
    if (len == 0) {
      read_first();  // dropped (e.g. QR=1): nothing to send, keep the connection
      return;
    }
    // RFC 7766 8: the length and the message in one write.
    out[0] = static_cast<std::uint8_t>(len >> 8);
    out[1] = static_cast<std::uint8_t>(len);
    asio::async_write(
        socket, asio::buffer(out, len + 2),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (ec) {
            self->close();
            return;
          }
          self->srv.tcp_durations.observe(
              static_cast<std::uint64_t>((Clock::now() - self->received).count()), 1);
          self->read_first();
        });
  }

  Impl& srv;
  tcp::socket socket;
  asio::steady_timer timer;
  TcpBuffer buffer;
  std::uint8_t prefix[2] = {0, 0};
  bool idle = false;  // waiting for the first byte of a message
  Clock::time_point idle_since;
  Clock::time_point received;  // the current message's last byte
  dns::IpAddress remote;
  dns::IpAddress local;
};

void Server::Impl::arm_accept(const std::shared_ptr<Acceptor>& ap) {
  ap->acceptor.async_accept([this, ap](const boost::system::error_code& ec, tcp::socket sock) {
    Acceptor& a = *ap;
    if (!a.acceptor.is_open()) {
      return;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        return;
      }
      // EMFILE and friends: back off briefly instead of spinning.
      log::warning("tcp accept failed: " + ec.message());
      a.retry.expires_after(std::chrono::milliseconds(100));
      a.retry.async_wait([this, ap](const boost::system::error_code& e) {
        if (!e && ap->acceptor.is_open()) {
          arm_accept(ap);
        }
      });
      return;
    }
    accept(std::move(sock));
    arm_accept(ap);
  });
}

void Server::Impl::accept(tcp::socket sock) {
  boost::system::error_code ec;
  const auto peer = sock.remote_endpoint(ec);
  if (ec) {
    return;  // already gone (reset before we got to it); the socket closes with `sock`
  }
  const dns::IpAddress remote = from_asio(peer.address());
  auto refuse = [&](std::uint64_t& counter) {
    bump(counter);
    boost::system::error_code ignored;
    sock.close(ignored);
    // At the global cap someone waits for a slot: idle connections get the short timeout.
    shorten_idle_connections();
  };
  if (conns.size() >= limits.max_connections) {
    refuse(tcp_rejected);
    return;
  }
  if (limits.max_connections_per_client != 0) {
    // At most max_tcp_connections entries: a scan per accept, nothing per query.
    std::size_t same = 0;
    for (const TcpConn* c : conns) {
      same += c->remote == remote ? 1U : 0U;
    }
    if (same >= limits.max_connections_per_client) {
      refuse(tcp_rejected_per_client);
      return;
    }
  }
  TcpBuffer buf = TcpBuffer::allocate();
  if (!buf) {
    refuse(tcp_rejected);
    return;
  }
  bump(tcp_accepted);
  auto c = std::make_shared<TcpConn>(*this, std::move(sock), remote, std::move(buf));
  conns.insert(c.get());
  sync::set(tcp_current, conns.size());
  c->start();
  if (tcp_busy()) {
    shorten_idle_connections();
  }
}

void Server::Impl::shorten_idle_connections() {
  if (!tcp_busy()) {
    return;
  }
  for (TcpConn* c : conns) {
    c->shorten_idle();
  }
}

// ---------------------------------------------------------------------------------------
// UDP: one thread per socket, blocking in recvmmsg(MSG_WAITFORONE): it sleeps until the first
// datagram, then takes whatever else is queued (up to kBatch) without waiting; every answer
// of the batch goes out with one sendmmsg. Two syscalls per wake-up: an epoll loop needs
// epoll_wait too, and Asio's async_wait also re-arms the descriptor with epoll_ctl each time.

namespace {
std::int64_t steady_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Server::Impl::run_udp(UdpWorker& w) {
  const int fd = w.sock.native_handle();
  while (!w.stopping.load(std::memory_order_relaxed)) {
    // Once per batch or receive timeout, not per query: a vDSO clock read and a relaxed store.
    w.heartbeat_ms.store(steady_ms(), std::memory_order_relaxed);
    for (unsigned i = 0; i < kBatch; ++i) {
      w.rx[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);  // in/out: reset every call
    }
    const int n = ::recvmmsg(fd, w.rx.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (w.stopping.load(std::memory_order_relaxed)) {
      break;  // woken by stop(): whatever came with the wake-up is not answered
    }
    if (n < 0) {
      // EAGAIN: the receive timeout (look at the stop flag); EINTR: a signal. Anything else
      // is a pending socket error (reported once) or ENOMEM.
      if (errno != EAGAIN && errno != EINTR) {
        bump(w.recv_errors);
      }
      continue;
    }
    const Clock::time_point received = Clock::now();  // the batch's request durations
    bump(w.batches);
    // The app is re-read once per batch: a batch is at most kBatch packets old.
    app::Worker& worker = w.view.get(*this);
    // RRL's clock, read once per batch: the datagrams of a batch arrived together.
    const std::uint64_t now_ns =
        rrl ? static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             Clock::now().time_since_epoch())
                                             .count())
            : 0;
    unsigned count = 0;
    {
      // One batch per recvmmsg: the datagrams that arrived together are answered from one
      // snapshot of the override store, released before the send.
      const app::BatchScope batch(worker);
      for (unsigned i = 0; i < static_cast<unsigned>(n); ++i) {
        std::uint8_t* out = w.out.get() + i * w.out_slot;
        const dns::IpAddress client = from_sockaddr(w.peer[i]);
        wire::QueryInfo info;
        std::size_t len = wire::handle(
            worker, std::span<const std::uint8_t>(w.in.get() + i * kInStride, w.rx[i].msg_len),
            wire::Transport::udp, client, w.local, std::span<std::uint8_t>(out, w.out_slot),
            w.counters, opt.policy, &info);
        // A valid server cookie proves the source address: no rate limit.
        if (len != 0 && rrl && !info.valid_server_cookie) {
          len = rrl->limit_answer(client, std::span<std::uint8_t>(out, w.out_slot), len, now_ns,
                                  w.rrl);
        }
        if (len == 0) {
          continue;  // dropped (short, QR=1, over the rate limit)
        }
        w.tx[count].msg_hdr.msg_name = &w.peer[i];
        w.tx[count].msg_hdr.msg_namelen = w.rx[i].msg_hdr.msg_namelen;
        w.tx_iov[count] = iovec{out, len};
        ++count;
      }
    }
    if (count != 0) {
      send_udp(w, fd, count);
    }
    // Every datagram of the batch waited for the whole batch (dropped ones too: the time
    // they took is the server's).
    w.durations.observe(static_cast<std::uint64_t>((Clock::now() - received).count()),
                        static_cast<std::uint64_t>(n));
  }
}

void Server::Impl::send_udp(UdpWorker& w, int fd, unsigned count) {
  unsigned done = 0;
  unsigned stalls = 0;
  while (done < count) {
    const int m = ::sendmmsg(fd, w.tx.data() + done, count - done, MSG_DONTWAIT);
    if (m > 0) {
      done += static_cast<unsigned>(m);  // partial: retry the rest
      stalls = 0;
      continue;
    }
    const int err = m < 0 ? errno : EAGAIN;
    if (err == EINTR) {
      continue;
    }
    if (err == EAGAIN || err == ENOBUFS) {
      if (++stalls < kSendStalls) {
        continue;
      }
      // The send buffer stays full: drop the rest rather than block the worker.
      bump(w.send_dropped, count - done);
      return;
    }
    // This one message failed on its own (e.g. an unroutable source): skip it.
    bump(w.send_errors);
    ++done;
  }
}

namespace {

/// "udp 127.0.0.1:53: Address already in use": which socket of which address, and why.
[[noreturn]] void throw_bind_error(const char* proto, const dns::IpAddress& address,
                                   std::uint16_t port, const std::exception& e) {
  std::string why = e.what();
  if (const auto* se = dynamic_cast<const boost::system::system_error*>(&e)) {
    why = se->code().message();
  } else if (const auto* se2 = dynamic_cast<const std::system_error*>(&e)) {
    why = se2->code().message();
  }
  throw std::runtime_error(std::string("cannot listen on ") + proto + " " +
                           Endpoint{address, port}.to_string() + ": " + why);
}

}  // namespace

/// Binds the listener's UDP sockets and, with TCP on, its acceptor to one port (l.bound).
/// Port 0: the first UDP socket is bound without SO_REUSEPORT, so the kernel hands it a port
/// nobody else holds (a SO_REUSEPORT bind to port 0 may be given a port that another
/// SO_REUSEPORT socket of the same user holds, and the two would then split the datagrams).
/// With one worker it stays exclusive; with more, SO_REUSEPORT is turned on after the bind so
/// that the others can join it (from then on, only another SO_REUSEPORT bind to port 0 by the
/// same user could still be handed that port). Throws std::runtime_error naming the socket,
/// the address and the error; the sockets opened so far are closed by their destructors.
void Server::Impl::bind_listener(Listener& l) {
  const dns::IpAddress& address = l.want.address;
  std::uint16_t port = l.want.port;
  const bool v6 = address.is_v6();
  const asio::ip::address addr = to_asio(address);
  const timeval recv_timeout{0, kRecvTimeoutMs * 1000};
  for (auto& wp : l.workers) {
    UdpWorker& w = *wp;
    try {
      open_socket(w.sock, v6 ? udp::v6() : udp::v4(), v6);
      if (port != 0) {
        set_reuse_port(w.sock);
      }
      w.sock.bind(udp::endpoint(addr, port));
      if (port == 0) {
        port = w.sock.local_endpoint().port();
        if (l.workers.size() > 1) {
          set_reuse_port(w.sock);
        }
      }
      w.sock.non_blocking(false);  // run_udp blocks in recvmmsg
      if (::setsockopt(w.sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &recv_timeout,
                       sizeof recv_timeout) != 0) {
        throw std::system_error(errno, std::generic_category(), "setsockopt(SO_RCVTIMEO)");
      }
    } catch (const std::exception& e) {
      throw_bind_error("udp", address, port, e);
    }
    w.local = address;
  }
  if (opt.tcp) {
    auto a = std::make_shared<Acceptor>(tcp_ctx);
    try {
      open_socket(a->acceptor, v6 ? tcp::v6() : tcp::v4(), v6);
      a->acceptor.set_option(tcp::acceptor::reuse_address(true));
      a->acceptor.bind(tcp::endpoint(addr, port));  // port 0 without UDP: the kernel picks
      port = a->acceptor.local_endpoint().port();
      a->acceptor.listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
      // Port 0 only: the UDP port the kernel picked is taken for TCP; make_listener retries.
      if (l.want.port == 0 && e.code() == asio::error::address_in_use) {
        throw;
      }
      throw_bind_error("tcp", address, port, e);
    } catch (const std::exception& e) {
      throw_bind_error("tcp", address, port, e);
    }
    a->local = address;
    l.acceptor = std::move(a);
  }
  l.bound = Endpoint{address, port};
}

/// A bound listener for `want` (its threads not started yet). Throws std::runtime_error
/// naming the address and the error.
std::unique_ptr<Server::Impl::Listener> Server::Impl::make_listener(const Endpoint& want) {
  // The largest UDP answer handle() writes: the policy's payload, at least 512 (RFC 1035),
  // rounded up to a cache line.
  const std::size_t max_answer =
      std::max<std::size_t>(wire::kMinUdpPayload, opt.policy.udp_payload_max);
  const std::size_t out_slot = (max_answer + 63) / 64 * 64;
  for (unsigned attempt = 1;; ++attempt) {
    auto l = std::make_unique<Listener>();
    l->want = want;
    if (opt.udp) {
      for (unsigned i = 0; i < threads; ++i) {
        if (stop_requested.load(std::memory_order_relaxed)) {
          throw StartInterrupted();
        }
        l->workers.push_back(std::make_unique<UdpWorker>(udp_ctx, out_slot));
      }
    }
    try {
      bind_listener(*l);
      return l;
    } catch (const boost::system::system_error& e) {
      // Port 0 only: the UDP port the kernel picked is taken for TCP; pick again.
      if (attempt == 8) {
        throw_bind_error("tcp", want.address, want.port, e);
      }
    }
  }
}

void Server::Impl::start_listener(Listener& l) {
  for (auto& w : l.workers) {
    UdpWorker* wp = w.get();
    wp->thread = std::thread([this, wp] { run_udp(*wp); });
  }
  if (l.acceptor) {
    asio::post(tcp_ctx, [this, a = l.acceptor] { arm_accept(a); });
  }
  if (opt.udp) {
    log::info("listening udp " + l.bound.to_string() + " workers=" + std::to_string(threads) +
              (rrl ? " rrl: " + rrl->describe() : std::string()));
  }
  if (opt.tcp) {
    log::info("listening tcp " + l.bound.to_string() +
              " max_connections=" + std::to_string(logged_max_connections.load()));
  }
}

/// Stops the listener's UDP workers (each finishes the batch in hand) and closes its sockets;
/// the acceptor is closed on the TCP thread. Connections it accepted stay open.
void Server::Impl::retire_listener(Listener& l) {
  // shutdown() wakes a worker blocked in recvmmsg at once (on an unconnected UDP socket it
  // fails with ENOTCONN but still wakes the receivers); the receive timeout covers a wake-up
  // that raced the flag. Sockets are closed only once their thread has returned.
  for (auto& w : l.workers) {
    w->stopping.store(true, std::memory_order_relaxed);
    ::shutdown(w->sock.native_handle(), SHUT_RDWR);
  }
  for (auto& w : l.workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
    boost::system::error_code ec;
    w->sock.close(ec);
  }
  if (l.acceptor) {
    asio::post(tcp_ctx, [a = l.acceptor] {
      boost::system::error_code ec;
      a->acceptor.close(ec);
      a->retry.cancel();
    });
  }
}

void Server::Impl::bind_all() {
  for (const Endpoint& want : endpoints) {
    auto l = make_listener(want);
    std::lock_guard<std::mutex> lock(listen_mu);
    listeners.push_back(std::move(l));
  }
}

void Server::Impl::start_threads() {
  if (cookie_jar) {
    log::info("dns cookies on: secret rotated every " +
              std::to_string(cookie_jar->rotate_seconds()) + " s");
  }
  if (opt.tcp) {
    tcp_heartbeat_ms.store(steady_ms());
    tcp_work.emplace(tcp_ctx.get_executor());
    tcp_thread = std::thread([this] { tcp_ctx.run(); });
  }
  for (auto& l : listeners) {
    if (stop_requested.load(std::memory_order_relaxed)) {
      throw StartInterrupted();
    }
    start_listener(*l);
  }
}

/// Binds every new address first; only when all are bound are the dropped ones closed, so a
/// failure (logged by the caller) leaves the old sockets serving. Addresses in both lists
/// keep their sockets and threads.
void Server::Impl::rebind(const std::vector<std::string>& listen) {
  std::vector<Endpoint> wanted;
  for (const std::string& s : listen) {
    auto ep = Endpoint::parse(s);
    if (!ep) {
      throw std::invalid_argument(bad_listen_address(s));
    }
    wanted.push_back(*ep);
  }
  if (wanted.empty()) {
    throw std::invalid_argument("nothing to listen on");
  }
  auto same = [](const Endpoint& a, const Endpoint& b) {
    return a.address == b.address && a.port == b.port;
  };
  // Nothing changes until every new address is bound: on a throw, `fresh` closes what it
  // bound and the current listeners are untouched.
  std::vector<Listener*> plan;  // the new list: current listeners (kept) and fresh ones
  std::vector<std::unique_ptr<Listener>> fresh;
  for (const Endpoint& want : wanted) {
    if (std::any_of(plan.begin(), plan.end(),
                    [&](const Listener* l) { return same(l->want, want); })) {
      continue;  // listed twice: bound once
    }
    auto kept = std::find_if(listeners.begin(), listeners.end(),
                             [&](const auto& l) { return same(l->want, want); });
    if (kept != listeners.end()) {
      plan.push_back(kept->get());
      continue;
    }
    fresh.push_back(make_listener(want));
    plan.push_back(fresh.back().get());
  }
  for (auto& l : fresh) {
    start_listener(*l);
  }
  // Swap the lists, then close the dropped addresses (their workers finish their batch).
  std::vector<std::unique_ptr<Listener>> next;
  std::vector<std::unique_ptr<Listener>> dropped;
  {
    std::lock_guard<std::mutex> lock(listen_mu);
    for (Listener* p : plan) {
      auto own = [p](const auto& l) { return l.get() == p; };
      if (auto it = std::find_if(listeners.begin(), listeners.end(), own); it != listeners.end()) {
        next.push_back(std::move(*it));
      } else {
        next.push_back(std::move(*std::find_if(fresh.begin(), fresh.end(), own)));
      }
    }
    for (auto& l : listeners) {
      if (l) {
        dropped.push_back(std::move(l));
      }
    }
    listeners = std::move(next);
  }
  for (auto& l : dropped) {
    retire_listener(*l);
    log::info("closed " +
              std::string(opt.udp && opt.tcp ? "udp+tcp "
                          : opt.udp          ? "udp "
                                             : "tcp ") +
              l->bound.to_string() + " (no longer in listen)");
    std::lock_guard<std::mutex> lock(listen_mu);
    for (const auto& w : l->workers) {
      retired.udp += w->counters;
      retired.udp_batches += w->batches;
      retired.send_errors += w->send_errors;
      retired.udp_send_dropped += w->send_dropped;
      retired.udp_recv_errors += w->recv_errors;
      retired.rrl += w->rrl;
      retired.udp_durations += w->durations;
    }
  }
}

void Server::Impl::stop() {
  // UDP workers finish the batch in hand, see the flag and return (retire_listener), which
  // also posts the acceptors' close to the TCP thread; the connections are closed after
  // them (the posts run in order), so no accept can slip in behind.
  for (auto& l : listeners) {
    retire_listener(*l);
  }
  asio::post(tcp_ctx, [this] {
    // Copy: close() may not erase, but a destructor run later will.
    std::vector<TcpConn*> open(conns.begin(), conns.end());
    for (TcpConn* c : open) {
      c->close();
    }
  });
  tcp_work.reset();  // the context runs out of work once the closes are done
  if (tcp_thread.joinable()) {
    tcp_thread.join();
  } else {
    tcp_ctx.run();  // a start-up that never got to the TCP thread: run the closes here
  }
}

// ---------------------------------------------------------------------------------------
// Server

Server::Server(std::shared_ptr<const app::App> app, ServeOptions options)
    : impl_(std::make_unique<Impl>(std::move(app), std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::start() {
  std::lock_guard<std::mutex> lock(impl_->life_mu);
  if (impl_->started || impl_->stopped) {
    return;
  }
  impl_->started = true;
  try {
    log::info("starting: " + std::to_string(impl_->endpoints.size()) + " listen address(es), " +
              (impl_->opt.udp ? std::to_string(impl_->threads) : std::string("no")) +
              " UDP worker(s) each");
    impl_->bind_all();
    impl_->start_threads();
  } catch (const StartInterrupted&) {
    // stop() was called meanwhile: undo what was started; stop() returns once we are done.
    impl_->stop();
    impl_->stopped = true;
    impl_->life_cv.notify_all();
  } catch (...) {
    impl_->stop();
    impl_->stopped = true;
    impl_->life_cv.notify_all();
    throw;
  }
}

bool Server::stopped() const {
  std::lock_guard<std::mutex> lock(impl_->life_mu);
  return impl_->stopped;
}

std::vector<Endpoint> Server::local_endpoints() const {
  std::lock_guard<std::mutex> lock(impl_->listen_mu);
  std::vector<Endpoint> e;
  for (const auto& l : impl_->listeners) {
    e.push_back(l->bound);
  }
  return e;
}

std::string Server::stalled(std::chrono::milliseconds max_age) const {
  const std::int64_t now = steady_ms();
  auto silent = [&](std::int64_t last) {
    return last != 0 && now - last > static_cast<std::int64_t>(max_age.count());
  };
  auto seconds = [&](std::int64_t last) {
    return std::to_string((now - last) / 1000) + "." + std::to_string((now - last) % 1000 / 100) +
           " s";
  };
  {
    std::lock_guard<std::mutex> lock(impl_->listen_mu);
    for (const auto& l : impl_->listeners) {
      for (const auto& w : l->workers) {
        const std::int64_t last = w->heartbeat_ms.load(std::memory_order_relaxed);
        if (!w->stopping.load(std::memory_order_relaxed) && silent(last)) {
          return "udp worker of " + l->bound.to_string() + " silent for " + seconds(last);
        }
      }
    }
  }
  if (impl_->tcp_thread.joinable()) {
    const std::int64_t last = impl_->tcp_heartbeat_ms.load();
    if (silent(last)) {
      return "tcp thread silent for " + seconds(last);
    }
    // Answered by the next call: a TCP thread stuck in a handler never runs it.
    asio::post(impl_->tcp_ctx, [impl = impl_.get()] { impl->tcp_heartbeat_ms.store(steady_ms()); });
  }
  return {};
}

std::vector<std::uint16_t> Server::ports() const {
  std::vector<std::uint16_t> p;
  for (const Endpoint& e : local_endpoints()) {
    p.push_back(e.port);
  }
  return p;
}

void Server::rebind(const std::vector<std::string>& listen) {
  std::lock_guard<std::mutex> lock(impl_->life_mu);
  if (!impl_->started || impl_->stopped) {
    throw std::logic_error("rebind: the server is not running");
  }
  impl_->rebind(listen);
}

void Server::set_tcp_limits(const TcpLimits& limits) {
  impl_->logged_max_connections = limits.max_connections;
  // Applied on the TCP thread, between two events: new connections and the next idle or
  // message wait of every connection see them.
  asio::post(impl_->tcp_ctx, [impl = impl_.get(), limits] { impl->limits = limits; });
}

void Server::stop() {
  // Seen by a start() in progress (which holds life_mu) between two sockets or threads.
  impl_->stop_requested.store(true, std::memory_order_relaxed);
  std::unique_lock<std::mutex> lock(impl_->life_mu);
  if (!impl_->started || impl_->stopped) {
    impl_->stopped = true;
    impl_->life_cv.notify_all();
    return;
  }
  impl_->stop();
  impl_->stopped = true;
  impl_->life_cv.notify_all();
}

void Server::run() {
  start();
  std::unique_lock<std::mutex> lock(impl_->life_mu);
  impl_->life_cv.wait(lock, [this] { return impl_->stopped; });
}

void Server::replace_app(std::shared_ptr<const app::App> app) {
  if (!app) {
    throw std::invalid_argument("replace_app: null app");
  }
  impl_->app_.publish(std::move(app));
  impl_->generation_.fetch_add(1, std::memory_order_release);
}

std::uint64_t Server::generation() const noexcept {
  return impl_->generation_.load(std::memory_order_acquire);
}

void Durations::observe(std::uint64_t ns, std::uint64_t n) noexcept {
  const std::uint64_t us = ns / 1000;
  std::size_t b = 0;
  while (b < kBoundsUs.size() && us >= kBoundsUs[b]) {
    ++b;
  }
  bump(counts[b], n);
  bump(sum_ns, ns * n);
}

Durations& Durations::operator+=(const Durations& o) noexcept {
  for (std::size_t i = 0; i < counts.size(); ++i) {
    counts[i] += o.counts[i];
  }
  sum_ns += o.sum_ns;
  return *this;
}

namespace {

// Each worker's counters are written by that worker only (sync::bump) and read here with
// sync::peek: relaxed atomic_ref accesses on both sides, no lock prefix on the writer.
void add_peeked(Durations& to, const Durations& from) noexcept {
  for (std::size_t i = 0; i < to.counts.size(); ++i) {
    to.counts[i] += peek(from.counts[i]);
  }
  to.sum_ns += peek(from.sum_ns);
}

void add_peeked(wire::Counters& to, const wire::Counters& from) noexcept {
  to.received += peek(from.received);
  to.dropped_short += peek(from.dropped_short);
  to.dropped_response += peek(from.dropped_response);
  to.answered += peek(from.answered);
  to.truncated += peek(from.truncated);
  for (std::size_t i = 0; i < to.rcodes.size(); ++i) {
    to.rcodes[i] += peek(from.rcodes[i]);
  }
  for (std::size_t f = 0; f < to.qtypes.size(); ++f) {
    for (std::size_t i = 0; i < to.qtypes[f].size(); ++i) {
      to.qtypes[f][i] += peek(from.qtypes[f][i]);
    }
  }
  for (std::size_t i = 0; i < to.sources.size(); ++i) {
    to.sources[i] += peek(from.sources[i]);
  }
  for (std::size_t i = 0; i < to.signing.by_algorithm.size(); ++i) {
    auto& t = to.signing.by_algorithm[i];
    const auto& f = from.signing.by_algorithm[i];
    t.signatures += peek(f.signatures);
    t.cache_hits += peek(f.cache_hits);
    t.cache_misses += peek(f.cache_misses);
    t.cache_evictions += peek(f.cache_evictions);
    t.failures += peek(f.failures);
  }
}

}  // namespace

Stats Server::counters() const {
  std::lock_guard<std::mutex> lock(impl_->listen_mu);
  Stats s = impl_->retired;
  for (const auto& l : impl_->listeners) {
    for (const auto& w : l->workers) {
      add_peeked(s.udp, w->counters);
      s.udp_batches += peek(w->batches);
      s.send_errors += peek(w->send_errors);
      s.udp_send_dropped += peek(w->send_dropped);
      s.udp_recv_errors += peek(w->recv_errors);
      s.rrl.limited += peek(w->rrl.limited);
      s.rrl.slipped += peek(w->rrl.slipped);
      s.rrl.dropped += peek(w->rrl.dropped);
      add_peeked(s.udp_durations, w->durations);
    }
  }
  add_peeked(s.tcp, impl_->tcp_counters);
  add_peeked(s.tcp_durations, impl_->tcp_durations);
  s.tcp_accepted = peek(impl_->tcp_accepted);
  s.tcp_current = peek(impl_->tcp_current);
  s.tcp_rejected = peek(impl_->tcp_rejected);
  s.tcp_rejected_per_client = peek(impl_->tcp_rejected_per_client);
  s.tcp_timeouts = peek(impl_->tcp_timeouts);
  s.tcp_busy_timeouts = peek(impl_->tcp_busy_timeouts);
  s.tcp_bad_length = peek(impl_->tcp_bad_length);
  s.reloads_ok = impl_->reloads_ok.load(std::memory_order_relaxed);
  s.reloads_failed = impl_->reloads_failed.load(std::memory_order_relaxed);
  s.last_reload_ok_unix = impl_->last_reload_ok_unix.load(std::memory_order_relaxed);
  s.config_serial = impl_->serial.load(std::memory_order_relaxed);
  return s;
}

void Server::note_reload(bool ok) noexcept {
  if (ok) {
    impl_->reloads_ok.fetch_add(1, std::memory_order_relaxed);
    impl_->last_reload_ok_unix.store(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count(),
                                     std::memory_order_relaxed);
  } else {
    impl_->reloads_failed.fetch_add(1, std::memory_order_relaxed);
  }
}

void Server::set_serial(std::uint64_t serial) noexcept {
  impl_->serial.store(serial, std::memory_order_relaxed);
}

std::uint64_t Server::serial() const noexcept {
  return impl_->serial.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------
// serve()

namespace {

/// ", serial N" for the log and STATUS= lines, or nothing without a serial.
std::string serial_text(const Server& server) {
  const std::uint64_t serial = server.serial();
  return serial != 0 ? ", serial " + std::to_string(serial) : std::string();
}

}  // namespace

int serve(std::shared_ptr<const app::App> app, const ServeOptions& options) {
  try {
    // The handlers are installed before any server thread exists, and they run on their own
    // thread from the start: a SIGTERM while start() still binds sockets and starts threads
    // stops it there instead of waiting for it.
    asio::io_context sig_ctx(1);
    asio::signal_set signals(sig_ctx, SIGINT, SIGTERM);
    signals.add(SIGHUP);
    Server server(std::move(app), options);
    server.set_serial(options.serial);
    std::atomic<bool> serving{false};
    std::function<void()> wait;
    wait = [&] {
      signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) {
          return;
        }
        if (sig == SIGHUP) {
          if (!options.reload) {
            log::info("SIGHUP: no reload configured");
          } else {
            // The service manager (Type=notify) sees the reload start and end, either way.
            notify::send(notify::reloading());
            std::string status = "reload failed; serving the previous configuration";
            try {
              Reload next = options.reload();
              if (!next.app) {
                log::error("reload failed: no app; keeping the old one");
                server.note_reload(false);
              } else {
                if (!next.listen.empty()) {
                  server.rebind(next.listen);  // throws with nothing changed
                }
                server.replace_app(std::move(next.app));
                if (next.tcp) {
                  server.set_tcp_limits(*next.tcp);
                }
                if (next.serial) {
                  server.set_serial(*next.serial);
                }
                log::info("reloaded app generation=" + std::to_string(server.generation()) +
                          (server.serial() != 0 ? " serial=" + std::to_string(server.serial())
                                                : std::string()));
                server.note_reload(true);
                status = "reloaded, generation " + std::to_string(server.generation()) +
                         serial_text(server);
              }
            } catch (const std::exception& e) {
              log::error(std::string("reload failed: ") + e.what() +
                         "; keeping the old app and listen addresses");
              server.note_reload(false);
              status = std::string("reload failed: ") + e.what() +
                       "; serving the previous configuration";
            }
            notify::send("READY=1\nSTATUS=" + status);
          }
          wait();
          return;
        }
        const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
        log::info(std::string("stopping on ") + name + (serving.load() ? "" : " during start-up"));
        notify::send("STOPPING=1");
        server.stop();
      });
    };
    wait();
    std::thread sig_thread([&] { sig_ctx.run(); });
    auto stop_signals = [&] {
      asio::post(sig_ctx, [&] { signals.cancel(); });
      sig_thread.join();
    };
    try {
      server.start();
    } catch (...) {
      stop_signals();
      throw;
    }
    // What serves beside the DNS listeners (HTTP metrics) is bound before READY=1 too.
    std::shared_ptr<void> attached;
    if (options.attach) {
      try {
        attached = options.attach(server);
      } catch (...) {
        server.stop();
        stop_signals();
        throw;
      }
    }
    serving = true;
    if (options.started) {
      try {
        options.started();
      } catch (const std::exception& e) {
        log::error(e.what());
        server.stop();
        stop_signals();
        return 1;
      }
    }
    // Every listener is bound (start() threw otherwise) and the caller opened the store.
    notify::send("READY=1\nSTATUS=serving, generation " + std::to_string(server.generation()) +
                 serial_text(server));
    // WatchdogSec=: WATCHDOG=1 every half interval while every worker thread makes progress;
    // a stuck one stops the pings, and the service manager restarts the service.
    std::mutex watchdog_mu;
    std::condition_variable watchdog_cv;
    bool watchdog_done = false;
    std::thread watchdog;
    // Under a service manager: a STATUS= line every 10 s with the q/s since the last one, the
    // app generation and the last reload's result, from the same counters /metrics reads.
    std::thread status;
    if (const char* ns = std::getenv("NOTIFY_SOCKET"); ns != nullptr && *ns != '\0') {
      status = std::thread([&] {
        constexpr auto kPeriod = std::chrono::seconds(10);
        auto queries = [&] {
          const Stats st = server.counters();
          return st.udp.received + st.tcp.received;
        };
        std::uint64_t last = queries();
        auto since = std::chrono::steady_clock::now();
        std::unique_lock<std::mutex> lock(watchdog_mu);
        while (!watchdog_cv.wait_for(lock, kPeriod, [&] { return watchdog_done; })) {
          const Stats st = server.counters();
          const std::uint64_t now_q = st.udp.received + st.tcp.received;
          const auto now = std::chrono::steady_clock::now();
          const double secs = std::chrono::duration<double>(now - since).count();
          const auto qps = static_cast<std::uint64_t>(static_cast<double>(now_q - last) / secs);
          last = now_q;
          since = now;
          notify::send("STATUS=serving, generation " + std::to_string(server.generation()) +
                       serial_text(server) + ", " + std::to_string(qps) + " q/s, reloads " +
                       std::to_string(st.reloads_ok) + " ok " + std::to_string(st.reloads_failed) +
                       " failed");
        }
      });
    }
    if (const std::uint64_t usec = notify::watchdog_usec(); usec != 0) {
      const auto period = std::chrono::microseconds(usec / 2);
      const auto max_age = std::chrono::duration_cast<std::chrono::milliseconds>(period) +
                           std::chrono::milliseconds(1000);
      watchdog = std::thread([&, period, max_age] {
        std::string reported;
        std::unique_lock<std::mutex> lock(watchdog_mu);
        while (!watchdog_cv.wait_for(lock, period, [&] { return watchdog_done; })) {
          const std::string stuck = server.stalled(max_age);
          if (stuck.empty()) {
            notify::send("WATCHDOG=1");
          } else if (reported.empty()) {
            log::error("watchdog: " + stuck + "; no WATCHDOG=1 until it moves again");
          }
          reported = stuck;
        }
      });
    }
    server.run();
    {
      std::lock_guard<std::mutex> lock(watchdog_mu);
      watchdog_done = true;
    }
    watchdog_cv.notify_all();
    if (watchdog.joinable()) {
      watchdog.join();
    }
    if (status.joinable()) {
      status.join();
    }  // returns once a signal has stopped the server
    stop_signals();
    attached.reset();  // before the server it may read goes
    const Stats st = server.counters();
    log::info("stopped udp_received=" + std::to_string(st.udp.received) +
              " tcp_received=" + std::to_string(st.tcp.received) +
              " dropped=" + std::to_string(st.udp.dropped() + st.tcp.dropped()) + " udp_batches=" +
              std::to_string(st.udp_batches) + " send_errors=" + std::to_string(st.send_errors) +
              " send_dropped=" + std::to_string(st.udp_send_dropped) +
              (options.rrl.enabled ? " rrl_limited=" + std::to_string(st.rrl.limited) +
                                         " rrl_slipped=" + std::to_string(st.rrl.slipped) +
                                         " rrl_dropped=" + std::to_string(st.rrl.dropped)
                                   : std::string()));
    return 0;
  } catch (const std::exception& e) {
    log::error(std::string("server: ") + e.what());
    return 1;
  }
}

int serve(const app::App& app, const ServeOptions& options) {
  // Non-owning: the caller guarantees the app outlives the call.
  return serve(std::shared_ptr<const app::App>(&app, [](const app::App*) {}), options);
}

}  // namespace amap::server
