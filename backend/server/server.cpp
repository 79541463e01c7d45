// SPDX-License-Identifier: MIT
#include "backend/server/server.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
// Asio 1.18's scheduler trips GCC 12's flow-based -Wnull-dereference once inlined; the
// warning is about Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio.hpp>
#pragma GCC diagnostic pop
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "mapper/app/batch.h"
#include "mapper/app/log.h"

namespace amap::server {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------
// Endpoint

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

// ---------------------------------------------------------------------------------------
// Impl

struct Server::Impl {
  /// A worker's view of the published app: re-read only when the generation changed, so the
  /// hot path costs one relaxed-enough atomic load.
  struct AppView {
    std::shared_ptr<const app::App> app;
    std::uint64_t generation = 0;

    const app::App& get(Impl& s) {
      const std::uint64_t g = s.generation_.load(std::memory_order_acquire);
      if (g != generation) {
        std::lock_guard<std::mutex> lock(s.app_mu_);
        app = s.app_;
        generation = s.generation_.load(std::memory_order_relaxed);
      }
      return *app;
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
    app::Answer answer;
    wire::Counters counters;
    std::uint64_t batches = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t send_dropped = 0;
    std::uint64_t recv_errors = 0;
    RrlCounters rrl;
    AppView view;
    std::thread thread;
  };

  struct TcpConn;

  struct Acceptor {
    explicit Acceptor(asio::io_context& ctx) : acceptor(ctx), retry(ctx) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry;
    dns::IpAddress local;
  };

  Impl(std::shared_ptr<const app::App> a, ServeOptions o) : opt(std::move(o)), app_(std::move(a)) {
    if (!app_) {
      throw std::invalid_argument("server: no app");
    }
    for (const std::string& s : opt.listen) {
      auto ep = Endpoint::parse(s);
      if (!ep) {
        throw std::invalid_argument("server: bad listen address '" + s +
                                    "' (want ADDR:PORT or [ADDR]:PORT)");
      }
      endpoints.push_back(*ep);
    }
    if (endpoints.empty()) {
      throw std::invalid_argument("server: nothing to listen on");
    }
    if (!opt.udp && !opt.tcp) {
      throw std::invalid_argument("server: both udp and tcp are disabled");
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
  using WorkerIt = std::vector<std::unique_ptr<UdpWorker>>::iterator;
  std::uint16_t bind_endpoint(const dns::IpAddress& address, std::uint16_t port, WorkerIt first,
                              WorkerIt last);
  void run_udp(UdpWorker& w);
  static void send_udp(UdpWorker& w, int fd, unsigned count);
  void arm_accept(Acceptor& a);

  ServeOptions opt;
  std::vector<Endpoint> endpoints;
  std::vector<Endpoint> bound;

  std::mutex app_mu_;
  std::shared_ptr<const app::App> app_;
  std::atomic<std::uint64_t> generation_{1};

  /// Only owns the UDP sockets (open/bind/close); never run: the workers block in recvmmsg.
  asio::io_context udp_ctx{1};
  std::vector<std::unique_ptr<UdpWorker>> udp_workers;  // threads × listen addresses
  std::atomic<bool> udp_stopping{false};
  std::unique_ptr<ResponseRateLimiter> rrl;  // shared by the UDP workers; null when off
  std::unique_ptr<CookieJar> cookie_jar;     // opt.policy.cookies; null when off

  // Declared before tcp_ctx: connections still queued in the context unregister themselves
  // from this set when the context is destroyed.
  std::unordered_set<TcpConn*> conns;  // tcp thread only
  asio::io_context tcp_ctx{1};
  std::vector<std::unique_ptr<Acceptor>> acceptors;
  app::Answer tcp_answer;  // tcp thread only: handle() is synchronous
  wire::Counters tcp_counters;
  AppView tcp_view;
  std::uint64_t tcp_accepted = 0;
  std::uint64_t tcp_rejected = 0;
  std::uint64_t tcp_timeouts = 0;
  std::uint64_t tcp_bad_length = 0;
  std::thread tcp_thread;

  std::mutex life_mu;
  std::condition_variable life_cv;
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
  TcpConn(Impl& s, tcp::socket sock) : srv(s), socket(std::move(sock)), timer(srv.tcp_ctx) {}
  ~TcpConn() { srv.conns.erase(this); }

  void start() {
    boost::system::error_code ec;
    const auto r = socket.remote_endpoint(ec);
    const auto l = socket.local_endpoint(ec);
    if (!ec) {
      remote = from_asio(r.address());
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

  void arm(std::chrono::milliseconds d) {
    timer.expires_after(d);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      // A wait that completed just before a re-arm still reports success: re-check.
      if (!ec && self->timer.expiry() <= Clock::now() && self->socket.is_open()) {
        ++self->srv.tcp_timeouts;
        self->close();
      }
    });
  }

  void read_first() {
    arm(srv.opt.tcp_idle_timeout);
    asio::async_read(socket, asio::buffer(prefix, 1),
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       if (ec) {
                         self->close();
                         return;
                       }
                       self->read_second();
                     });
  }

  void read_second() {
    arm(srv.opt.tcp_io_timeout);
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
      ++srv.tcp_bad_length;
      close();
      return;
    }
    // Read exactly the declared length, never beyond it.
    asio::async_read(
        socket, asio::buffer(in.data(), len),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (ec) {
            self->close();
            return;
          }
          self->process(n);
        });
  }

  void process(std::size_t n) {
    const app::App& a = srv.tcp_view.get(srv);
    const std::size_t len =
        wire::handle(a, std::span<const std::uint8_t>(in.data(), n), wire::Transport::tcp, remote,
                     local, srv.tcp_answer, std::span<std::uint8_t>(out.data() + 2, out.size() - 2),
                     srv.tcp_counters, srv.opt.policy);
    if (len == 0) {
      read_first();  // dropped (e.g. QR=1): nothing to send, keep the connection
      return;
    }
    // RFC 7766 8: the length and the message in one write.
    out[0] = static_cast<std::uint8_t>(len >> 8);
    out[1] = static_cast<std::uint8_t>(len);
    asio::async_write(
        socket, asio::buffer(out.data(), len + 2),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (ec) {
            self->close();
            return;
          }
          self->read_first();
        });
  }

  Impl& srv;
  tcp::socket socket;
  asio::steady_timer timer;
  std::uint8_t prefix[2] = {0, 0};
  std::vector<std::uint8_t> in = std::vector<std::uint8_t>(wire::kMaxMessage);
  std::vector<std::uint8_t> out = std::vector<std::uint8_t>(wire::kMaxMessage + 2);
  dns::IpAddress remote;
  dns::IpAddress local;
};

void Server::Impl::arm_accept(Acceptor& a) {
  a.acceptor.async_accept([this, &a](const boost::system::error_code& ec, tcp::socket sock) {
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
      a.retry.async_wait([this, &a](const boost::system::error_code& e) {
        if (!e && a.acceptor.is_open()) {
          arm_accept(a);
        }
      });
      return;
    }
    if (conns.size() >= opt.max_tcp_connections) {
      ++tcp_rejected;
      boost::system::error_code ignored;
      sock.close(ignored);
    } else {
      ++tcp_accepted;
      auto c = std::make_shared<TcpConn>(*this, std::move(sock));
      conns.insert(c.get());
      c->start();
    }
    arm_accept(a);
  });
}

// ---------------------------------------------------------------------------------------
// UDP: one thread per socket, blocking in recvmmsg(MSG_WAITFORONE): it sleeps until the first
// datagram, then takes whatever else is queued (up to kBatch) without waiting; every answer
// of the batch goes out with one sendmmsg. Two syscalls per wake-up: an epoll loop needs
// epoll_wait too, and Asio's async_wait also re-arms the descriptor with epoll_ctl each time.

void Server::Impl::run_udp(UdpWorker& w) {
  const int fd = w.sock.native_handle();
  while (!udp_stopping.load(std::memory_order_relaxed)) {
    for (unsigned i = 0; i < kBatch; ++i) {
      w.rx[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);  // in/out: reset every call
    }
    const int n = ::recvmmsg(fd, w.rx.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (udp_stopping.load(std::memory_order_relaxed)) {
      break;  // woken by stop(): whatever came with the wake-up is not answered
    }
    if (n < 0) {
      // EAGAIN: the receive timeout (look at the stop flag); EINTR: a signal. Anything else
      // is a pending socket error (reported once) or ENOMEM.
      if (errno != EAGAIN && errno != EINTR) {
        ++w.recv_errors;
      }
      continue;
    }
    ++w.batches;
    // The app is re-read once per batch: a batch is at most kBatch packets old.
    const app::App& a = w.view.get(*this);
    // RRL's clock, read once per batch: the datagrams of a batch arrived together.
    const std::uint64_t now_ns =
        rrl ? static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             Clock::now().time_since_epoch())
                                             .count())
            : 0;
    unsigned count = 0;
    {
      // One app::Batch per recvmmsg: the datagrams that arrived together are answered from
      // one snapshot of the override store, released before the send.
      const app::Batch batch;
      for (unsigned i = 0; i < static_cast<unsigned>(n); ++i) {
        std::uint8_t* out = w.out.get() + i * w.out_slot;
        const dns::IpAddress client = from_sockaddr(w.peer[i]);
        wire::QueryInfo info;
        std::size_t len = wire::handle(
            a, std::span<const std::uint8_t>(w.in.get() + i * kInStride, w.rx[i].msg_len),
            wire::Transport::udp, client, w.local, w.answer,
            std::span<std::uint8_t>(out, w.out_slot), w.counters, opt.policy, &info);
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
      w.send_dropped += count - done;
      return;
    }
    // This one message failed on its own (e.g. an unroutable source): skip it.
    ++w.send_errors;
    ++done;
  }
}

/// Binds the UDP sockets of workers [first, last) and, with TCP on, an acceptor to `port`;
/// returns the port. Port 0: the first UDP socket is bound without SO_REUSEPORT, so the
/// kernel hands it a port nobody else holds (a SO_REUSEPORT bind to port 0 may be given a
/// port that another SO_REUSEPORT socket of the same user holds, and the two would then
/// split the datagrams). With one worker it stays exclusive; with more, SO_REUSEPORT is
/// turned on after the bind so that the others can join it (from then on, only another
/// SO_REUSEPORT bind to port 0 by the same user could still be handed that port).
std::uint16_t Server::Impl::bind_endpoint(const dns::IpAddress& address, std::uint16_t port,
                                          WorkerIt first, WorkerIt last) {
  const bool v6 = address.is_v6();
  const asio::ip::address addr = to_asio(address);
  const timeval recv_timeout{0, kRecvTimeoutMs * 1000};
  for (auto it = first; it != last; ++it) {
    UdpWorker& w = **it;
    open_socket(w.sock, v6 ? udp::v6() : udp::v4(), v6);
    if (port != 0) {
      set_reuse_port(w.sock);
    }
    w.sock.bind(udp::endpoint(addr, port));
    if (port == 0) {
      port = w.sock.local_endpoint().port();
      if (last - first > 1) {
        set_reuse_port(w.sock);
      }
    }
    w.sock.non_blocking(false);  // run_udp blocks in recvmmsg
    if (::setsockopt(w.sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &recv_timeout,
                     sizeof recv_timeout) != 0) {
      throw std::system_error(errno, std::generic_category(), "setsockopt(SO_RCVTIMEO)");
    }
    w.local = address;
  }
  if (opt.tcp) {
    auto a = std::make_unique<Acceptor>(tcp_ctx);
    open_socket(a->acceptor, v6 ? tcp::v6() : tcp::v4(), v6);
    a->acceptor.set_option(tcp::acceptor::reuse_address(true));
    a->acceptor.bind(tcp::endpoint(addr, port));  // port 0 without UDP: the kernel picks
    port = a->acceptor.local_endpoint().port();
    a->acceptor.listen(asio::socket_base::max_listen_connections);
    a->local = address;
    acceptors.push_back(std::move(a));
  }
  return port;
}

void Server::Impl::bind_all() {
  unsigned threads = opt.threads != 0 ? opt.threads : std::thread::hardware_concurrency();
  if (threads == 0) {
    threads = 1;
  }
  if (opt.udp) {
    // The largest UDP answer handle() writes: the policy's payload, at least 512 (RFC 1035),
    // rounded up to a cache line.
    const std::size_t max_answer =
        std::max<std::size_t>(wire::kMinUdpPayload, opt.policy.udp_payload_max);
    const std::size_t out_slot = (max_answer + 63) / 64 * 64;
    for (std::size_t i = 0; i < threads * endpoints.size(); ++i) {
      udp_workers.push_back(std::make_unique<UdpWorker>(udp_ctx, out_slot));
    }
  }
  auto next_worker = udp_workers.begin();
  for (const Endpoint& want : endpoints) {
    const auto first = next_worker;
    next_worker += opt.udp ? threads : 0;
    std::uint16_t port = want.port;
    for (unsigned attempt = 1;; ++attempt) {
      try {
        port = bind_endpoint(want.address, want.port, first, next_worker);
        break;
      } catch (const boost::system::system_error& e) {
        // Port 0 only: the UDP port the kernel picked is taken for TCP; pick again.
        if (want.port != 0 || e.code() != asio::error::address_in_use || attempt == 8) {
          throw;
        }
        for (auto w = first; w != next_worker; ++w) {
          boost::system::error_code ec;
          (*w)->sock.close(ec);
        }
      }
    }
    Endpoint got{want.address, port};
    bound.push_back(got);
    if (opt.udp) {
      log::info("listening udp " + got.to_string() + " workers=" + std::to_string(threads) +
                (rrl ? " rrl: " + rrl->describe() : std::string()));
    }
    if (opt.tcp) {
      log::info("listening tcp " + got.to_string() +
                " max_connections=" + std::to_string(opt.max_tcp_connections));
    }
  }
}

void Server::Impl::start_threads() {
  if (cookie_jar) {
    log::info("dns cookies on: secret rotated every " +
              std::to_string(cookie_jar->rotate_seconds()) + " s");
  }
  for (auto& w : udp_workers) {
    UdpWorker* wp = w.get();
    wp->thread = std::thread([this, wp] { run_udp(*wp); });
  }
  if (!acceptors.empty()) {
    for (auto& a : acceptors) {
      arm_accept(*a);
    }
    tcp_thread = std::thread([this] { tcp_ctx.run(); });
  }
}

void Server::Impl::stop() {
  // UDP workers finish the batch in hand, see the flag and return. shutdown() wakes one
  // blocked in recvmmsg at once (on an unconnected UDP socket it fails with ENOTCONN but
  // still wakes the receivers); the receive timeout covers a wake-up that raced the flag.
  // Sockets are closed only once their thread has returned.
  udp_stopping.store(true, std::memory_order_relaxed);
  for (auto& w : udp_workers) {
    ::shutdown(w->sock.native_handle(), SHUT_RDWR);
  }
  asio::post(tcp_ctx, [this] {
    for (auto& a : acceptors) {
      boost::system::error_code ec;
      a->acceptor.close(ec);
      a->retry.cancel();
    }
    // Copy: close() may not erase, but a destructor run later will.
    std::vector<TcpConn*> open(conns.begin(), conns.end());
    for (TcpConn* c : open) {
      c->close();
    }
  });
  for (auto& w : udp_workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
    boost::system::error_code ec;
    w->sock.close(ec);
  }
  if (tcp_thread.joinable()) {
    tcp_thread.join();
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
  if (impl_->started) {
    return;
  }
  impl_->bind_all();
  impl_->start_threads();
  impl_->started = true;
}

std::vector<Endpoint> Server::local_endpoints() const {
  return impl_->bound;
}

std::vector<std::uint16_t> Server::ports() const {
  std::vector<std::uint16_t> p;
  for (const Endpoint& e : impl_->bound) {
    p.push_back(e.port);
  }
  return p;
}

void Server::stop() {
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
  std::lock_guard<std::mutex> lock(impl_->app_mu_);
  impl_->app_ = std::move(app);
  impl_->generation_.fetch_add(1, std::memory_order_release);
}

std::uint64_t Server::generation() const noexcept {
  return impl_->generation_.load(std::memory_order_acquire);
}

Stats Server::counters() const {
  Stats s;
  for (const auto& w : impl_->udp_workers) {
    s.udp += w->counters;
    s.udp_batches += w->batches;
    s.send_errors += w->send_errors;
    s.udp_send_dropped += w->send_dropped;
    s.udp_recv_errors += w->recv_errors;
    s.rrl += w->rrl;
  }
  s.tcp = impl_->tcp_counters;
  s.tcp_accepted = impl_->tcp_accepted;
  s.tcp_rejected = impl_->tcp_rejected;
  s.tcp_timeouts = impl_->tcp_timeouts;
  s.tcp_bad_length = impl_->tcp_bad_length;
  return s;
}

// ---------------------------------------------------------------------------------------
// serve()

int serve(std::shared_ptr<const app::App> app, const ServeOptions& options) {
  try {
    // Install the handlers before any server thread exists, so no signal can hit the default
    // action during startup.
    asio::io_context sig_ctx(1);
    asio::signal_set signals(sig_ctx, SIGINT, SIGTERM);
    signals.add(SIGHUP);
    Server server(std::move(app), options);
    server.start();
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
            try {
              auto next = options.reload();
              if (next) {
                server.replace_app(std::move(next));
                log::info("reloaded app generation=" + std::to_string(server.generation()));
              } else {
                log::error("reload failed: no app; keeping the old one");
              }
            } catch (const std::exception& e) {
              log::error(std::string("reload failed: ") + e.what() + "; keeping the old one");
            }
          }
          wait();
          return;
        }
        log::info(std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
        server.stop();
      });
    };
    wait();
    sig_ctx.run();
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
