// SPDX-License-Identifier: MIT
#pragma once
// A small App used by the wire/server tests, the server integration binary and the wire
// fuzzer: every answer shape the wire layer must encode.
//
//   hello.example.             SOA (ttl 7200, minimum 300), NS, TXT "Hello World!"
//   www.hello.example.         A 192.0.2.1, AAAA 2001:db8::1
//   alias.hello.example.       CNAME www.hello.example.
//   mx.hello.example.          MX 10 mail.hello.example.
//   txt.hello.example.         TXT only (A there is NODATA)
//   b.hello.example.           empty non-terminal (Outcome::nodata), a.b.hello.example. A
//   big.hello.example.         40 TXT records (> 1232 bytes: truncated over UDP)
//   N.size.hello.example.      one TXT whose RDATA is exactly N bytes (N <= 65535)
//   boom.hello.example.        handler fails (Outcome::error): SERVFAIL
//   1.2.0.192.in-addr.arpa.    PTR www.hello.example. (zone 2.0.192.in-addr.arpa.)

#include <charconv>
#include <memory>
#include <string>
#include <vector>

#include "mapper/app/app.h"

namespace amap::testapp {

inline std::shared_ptr<app::App> make_wire_test_app() {
  using app::Answer;
  using app::Match;
  using app::Outcome;
  using app::Request;
  auto a = std::make_shared<app::App>();
  app::Zone& z = a->zone("hello.example.");
  z.authority->soa_ttl = 7200;
  z.authority->soa.minimum = 300;
  a->zone("2.0.192.in-addr.arpa.");
  const auto www = *dns::Name::from_text("www.hello.example.");
  const auto mail = *dns::Name::from_text("mail.hello.example.");
  a->route(Match().name("hello.example.").type(dns::rrtype::TXT),
           [](const Request&, Answer& ans) noexcept {
             ans.txt("Hello World!");
             return Outcome::hit;
           });
  a->route(Match().name("www.hello.example."), [](const Request& r, Answer& ans) noexcept {
    if (r.qtype == dns::rrtype::A || r.qtype == dns::rrtype::ANY) {
      ans.a(*dns::IpAddress::parse("192.0.2.1"), 3600);
    }
    if (r.qtype == dns::rrtype::AAAA || r.qtype == dns::rrtype::ANY) {
      ans.aaaa(*dns::IpAddress::parse("2001:db8::1"), 3600);
    }
    return Outcome::hit;
  });
  a->route(Match().name("alias.hello.example."), [www](const Request&, Answer& ans) noexcept {
    ans.cname(www, 600);
    return Outcome::hit;
  });
  a->route(Match().name("mx.hello.example.").type(dns::rrtype::MX),
           [mail](const Request&, Answer& ans) noexcept {
             ans.mx(10, mail);
             return Outcome::hit;
           });
  a->route(Match().name("txt.hello.example.").type(dns::rrtype::TXT),
           [](const Request&, Answer& ans) noexcept {
             ans.txt("only text here");
             return Outcome::hit;
           });
  a->route(Match().name("b.hello.example."), [](const Request&, Answer&) noexcept {
    return Outcome::nodata;  // empty non-terminal: NODATA, not NXDOMAIN (RFC 8020)
  });
  a->route(Match().name("a.b.hello.example.").type(dns::rrtype::A),
           [](const Request&, Answer& ans) noexcept {
             ans.a(*dns::IpAddress::parse("192.0.2.2"));
             return Outcome::hit;
           });
  a->route(Match().name("big.hello.example.").type(dns::rrtype::TXT), [](const Request&,
                                                                         Answer& ans) noexcept {
    for (int i = 0; i < 40; ++i) {
      char buf[48];
      const int n = std::snprintf(buf, sizeof buf, "record %02d padding padding padding pad", i);
      ans.txt(std::string_view(buf, static_cast<std::size_t>(n)));
    }
    return Outcome::hit;
  });
  a->route(Match().domain("size.hello.example.").type(dns::rrtype::TXT),
           [](const Request& r, Answer& ans) noexcept {
             if (r.qname.label_count() != 4) {
               return Outcome::miss;
             }
             const std::string_view l = r.qname.label(0);
             unsigned n = 0;
             if (std::from_chars(l.data(), l.data() + l.size(), n).ec != std::errc() || n == 0 ||
                 n > 65535) {
               return Outcome::miss;
             }
             ans.add(r.qname, dns::rrtype::TXT, Answer::kDefaultTtl, [n](dns::WireWriter& w) {
               unsigned left = n;
               while (left > 0) {
                 const unsigned chunk = left - 1 > 255 ? 255 : left - 1;
                 w.u8(static_cast<std::uint8_t>(chunk));
                 for (unsigned i = 0; i < chunk; ++i) {
                   w.u8('x');
                 }
                 left -= chunk + 1;
               }
             });
             return Outcome::hit;
           });
  a->route(Match().name("boom.hello.example."),
           [](const Request&, Answer&) noexcept { return Outcome::error; });
  a->route(Match().name("1.2.0.192.in-addr.arpa.").type(dns::rrtype::PTR),
           [www](const Request&, Answer& ans) noexcept {
             ans.ptr(www);
             return Outcome::hit;
           });
  return a;
}

}  // namespace amap::testapp
