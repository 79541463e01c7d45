// SPDX-License-Identifier: MIT
#pragma once
// Outcome<T>: a value or an operator-facing error message. Used by config-time code
// (Template::compile, PrefixTable build) where a precise sentence is worth an allocation.
// Hot paths use amap::Result / plain bools instead.

#include <string>
#include <utility>
#include <variant>

namespace amap::mapper {

struct Error {
  std::string message;
};

inline Error make_error(std::string message) {
  return Error{std::move(message)};
}

template <class T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
  Outcome(Error e) : v_(std::in_place_index<1>, std::move(e.message)) {}  // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  /// The message; empty when has_value().
  const std::string& error() const noexcept {
    static const std::string kNone;
    return has_value() ? kNone : std::get<1>(v_);
  }

 private:
  std::variant<T, std::string> v_;
};

}  // namespace amap::mapper
