// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "mapper/dns/rdata.h"
#include "mapper/dns/rrtype.h"

namespace amap::dns {
namespace {

TEST(RRType, NamesAndNumbers) {
  EXPECT_EQ(RRType::from_text("aaaa")->value, 28);
  EXPECT_EQ(RRType::from_text("TYPE65535")->value, 65535);
  EXPECT_EQ(RRType::from_text("type1")->value, 1);
  EXPECT_FALSE(RRType::from_text("TYPE65536"));
  EXPECT_FALSE(RRType::from_text("TYPE"));
  EXPECT_FALSE(RRType::from_text("TYPE01"));
  EXPECT_FALSE(RRType::from_text("BOGUS"));
  char buf[16];
  EXPECT_EQ(RRType{65535}.to_text(buf), "TYPE65535");
  EXPECT_EQ(rrtype::CAA.to_text(buf), "CAA");
  EXPECT_EQ(*rrclass_from_text("in"), rrclass::IN);
  EXPECT_EQ(*rrclass_from_text("CLASS42"), 42);
  EXPECT_EQ(rrclass_to_text(42, buf), "CLASS42");
}

std::string text_of(RRType t, const WireWriter& w) {
  char buf[2048];
  TextWriter out(buf, sizeof buf);
  EXPECT_TRUE(rdata_to_text(t, w.written(), out));
  return std::string(out.view());
}

TEST(Rdata, BuildersAndPresentation) {
  std::array<std::uint8_t, 1024> buf{};
  auto fresh = [&] { return WireWriter(buf); };
  {
    auto w = fresh();
    rdata::a(w, *IpAddress::parse("192.0.2.1"));
    EXPECT_EQ(w.size(), 4U);
    EXPECT_EQ(text_of(rrtype::A, w), "192.0.2.1");
  }
  {
    auto w = fresh();
    rdata::aaaa(w, *IpAddress::parse("2001:db8::1"));
    EXPECT_EQ(text_of(rrtype::AAAA, w), "2001:db8::1");
  }
  {
    auto w = fresh();
    rdata::name(w, *Name::from_text("host.example."));
    EXPECT_EQ(text_of(rrtype::PTR, w), "host.example.");
  }
  {
    auto w = fresh();
    rdata::mx(w, 10, *Name::from_text("mail.example."));
    EXPECT_EQ(text_of(rrtype::MX, w), "10 mail.example.");
  }
  {
    auto w = fresh();
    rdata::txt(w, "Hello \"World\"!");
    EXPECT_EQ(text_of(rrtype::TXT, w), "\"Hello \\\"World\\\"!\"");
  }
  {
    auto w = fresh();
    rdata::txt(w, std::string(300, 'x'));
    EXPECT_EQ(w.size(), 302U);  // split into 255 + 45 character-strings
  }
  {
    auto w = fresh();
    Soa soa{
        *Name::from_text("ns1.example."), *Name::from_text("hostmaster.example."), 7, 1, 2, 3, 4};
    rdata::soa(w, soa);
    EXPECT_EQ(text_of(rrtype::SOA, w), "ns1.example. hostmaster.example. 7 1 2 3 4");
    std::size_t offs[2];
    EXPECT_EQ(compressible_names(rrtype::SOA, w.written(), offs), 2U);
    EXPECT_EQ(offs[1], 13U);
  }
  {
    auto w = fresh();
    rdata::srv(w, 1, 2, 443, *Name::from_text("t.example."));
    EXPECT_EQ(text_of(rrtype::SRV, w), "1 2 443 t.example.");
  }
  {
    auto w = fresh();
    rdata::caa(w, 0, "issue", "letsencrypt.org");
    EXPECT_EQ(text_of(rrtype::CAA, w), "0 issue \"letsencrypt.org\"");
  }
  {
    auto w = fresh();
    w.u8(0xAB);
    w.u8(0x01);
    EXPECT_EQ(text_of(RRType{65280}, w), "\\# 2 ab01");
  }
}

TEST(Rdata, MalformedIsRejected) {
  const std::uint8_t three[] = {1, 2, 3};
  char buf[64];
  TextWriter out(buf, sizeof buf);
  EXPECT_FALSE(rdata_to_text(rrtype::A, three, out));
  const std::uint8_t badtxt[] = {5, 'a'};
  EXPECT_FALSE(rdata_to_text(rrtype::TXT, badtxt, out));
  EXPECT_EQ(out.size(), 0U);
}

TEST(Writer, StickyError) {
  std::array<std::uint8_t, 3> buf{};
  WireWriter w(buf);
  w.u16(1);
  w.u16(2);  // does not fit
  w.u8(3);   // would fit, but the error is sticky
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 2U);
}

}  // namespace
}  // namespace amap::dns
