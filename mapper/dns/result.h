// SPDX-License-Identifier: MIT
#pragma once
// A small result type with std::expected's method names, so it can be swapped for
// std::expected once the project moves to C++23. No exceptions, no allocation.

#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace amap {

/// Error codes shared by the hot-path parsers. Keep them specific: each one maps to a
/// message an operator can act on (see errc_message).
enum class Errc : std::uint8_t {
  ok = 0,
  empty,
  too_long,           // name > 255 octets
  label_too_long,     // label > 63 octets
  empty_label,        // "a..b"
  bad_escape,         // "\" not followed by a char or \DDD
  bad_address,        // not an IPv4/IPv6 address
  bad_prefix_length,  // "/33" on IPv4, "/x"
  host_bits_set,      // 10.0.0.1/8
  bad_type,           // unknown RR type mnemonic
  bad_class,
  bad_number,
  truncated,       // wire data ended early
  bad_pointer,     // compression pointer forward or looping
  bad_label_type,  // 0x40/0x80 label types
  malformed,       // anything else wrong in wire data
  no_space,        // output buffer full
  not_found,
  zone_id,  // "fe80::1%eth0": an interface zone id where only an address belongs
};

constexpr std::string_view errc_message(Errc e) noexcept {
  switch (e) {
    case Errc::ok:
      return "ok";
    case Errc::empty:
      return "empty input";
    case Errc::too_long:
      return "name longer than 255 octets";
    case Errc::label_too_long:
      return "label longer than 63 octets";
    case Errc::empty_label:
      return "empty label";
    case Errc::bad_escape:
      return "bad escape sequence";
    case Errc::bad_address:
      return "not a valid IP address";
    case Errc::bad_prefix_length:
      return "bad prefix length";
    case Errc::host_bits_set:
      return "address has bits set beyond the prefix length";
    case Errc::bad_type:
      return "unknown record type";
    case Errc::bad_class:
      return "unknown class";
    case Errc::bad_number:
      return "not a valid number";
    case Errc::truncated:
      return "data ends early";
    case Errc::bad_pointer:
      return "bad compression pointer";
    case Errc::bad_label_type:
      return "unsupported label type";
    case Errc::malformed:
      return "malformed data";
    case Errc::no_space:
      return "output buffer full";
    case Errc::not_found:
      return "not found";
    case Errc::zone_id:
      return "an interface zone id (%eth0) has no meaning here: give the address alone";
  }
  return "unknown error";
}

struct Unexpected {
  Errc error;
};
constexpr Unexpected fail(Errc e) noexcept {
  return Unexpected{e};
}

template <class T>
class [[nodiscard]] Result {
 public:
  // Two overloads rather than one by-value parameter: a value is copied once, not twice
  // (dns::Name has no cheaper move).
  constexpr Result(const T& value) noexcept(std::is_nothrow_copy_constructible_v<T>)  // NOLINT
      : value_(value), error_(Errc::ok) {}
  constexpr Result(T&& value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT
      : value_(std::move(value)), error_(Errc::ok) {}
  constexpr Result(Unexpected u) noexcept : value_(), error_(u.error) {}  // NOLINT

  constexpr bool has_value() const noexcept { return error_ == Errc::ok; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  constexpr Errc error() const noexcept { return error_; }
  constexpr T& value() & noexcept { return value_; }
  constexpr const T& value() const& noexcept { return value_; }
  constexpr T&& value() && noexcept { return std::move(value_); }
  constexpr T& operator*() & noexcept { return value_; }
  constexpr const T& operator*() const& noexcept { return value_; }
  constexpr T* operator->() noexcept { return &value_; }
  constexpr const T* operator->() const noexcept { return &value_; }
  constexpr T value_or(T other) const { return has_value() ? value_ : other; }

 private:
  T value_;
  Errc error_;
};

/// Result<void>: success or an error code.
class [[nodiscard]] Status {
 public:
  constexpr Status() noexcept = default;
  constexpr Status(Unexpected u) noexcept : error_(u.error) {}  // NOLINT
  constexpr bool has_value() const noexcept { return error_ == Errc::ok; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  constexpr Errc error() const noexcept { return error_; }

 private:
  Errc error_ = Errc::ok;
};

}  // namespace amap
