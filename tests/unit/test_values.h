// SPDX-License-Identifier: MIT
#pragma once
// Short constructors for test tables: P("10.0.0.0/8"), A("2001:db8::1"), N("x.example.").
// A bad literal is a test failure, reported with the text.

#include <gtest/gtest.h>

#include <string_view>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"

namespace amap::test_values {

inline dns::Prefix P(std::string_view s) {
  auto r = dns::Prefix::parse(s);
  EXPECT_TRUE(r) << s;
  return *r;
}
inline dns::IpAddress A(std::string_view s) {
  auto r = dns::IpAddress::parse(s);
  EXPECT_TRUE(r) << s;
  return *r;
}
inline dns::Name N(std::string_view s) {
  auto r = dns::Name::from_text(s);
  EXPECT_TRUE(r) << s;
  return *r;
}

}  // namespace amap::test_values
