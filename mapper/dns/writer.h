// SPDX-License-Identifier: MIT
#pragma once
// Bounded writers with a sticky error: once a write does not fit, every later write does
// nothing and ok() stays false, so callers check once at the end (as Knot's wire_ctx).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace amap::dns {

class WireWriter {
 public:
  constexpr WireWriter() noexcept = default;
  constexpr explicit WireWriter(std::span<std::uint8_t> buf) noexcept : buf_(buf) {}

  void u8(std::uint8_t v) noexcept {
    if (reserve(1)) {
      buf_[pos_++] = v;
    }
  }
  void u16(std::uint16_t v) noexcept {
    if (reserve(2)) {
      buf_[pos_++] = static_cast<std::uint8_t>(v >> 8);
      buf_[pos_++] = static_cast<std::uint8_t>(v);
    }
  }
  void u32(std::uint32_t v) noexcept {
    if (reserve(4)) {
      for (int s = 24; s >= 0; s -= 8) {
        buf_[pos_++] = static_cast<std::uint8_t>(v >> s);
      }
    }
  }
  void bytes(std::span<const std::uint8_t> b) noexcept {
    if (!b.empty() && reserve(b.size())) {
      std::memcpy(buf_.data() + pos_, b.data(), b.size());
      pos_ += b.size();
    }
  }
  void bytes(std::string_view s) noexcept {
    bytes(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  }
  /// Overwrites a 16-bit value written earlier (length fields).
  void patch_u16(std::size_t at, std::uint16_t v) noexcept {
    if (at + 2 <= pos_) {
      buf_[at] = static_cast<std::uint8_t>(v >> 8);
      buf_[at + 1] = static_cast<std::uint8_t>(v);
    }
  }
  void truncate(std::size_t len) noexcept {
    if (len <= pos_) {
      pos_ = len;
      ok_ = true;
    }
  }

  bool ok() const noexcept { return ok_; }
  std::size_t size() const noexcept { return pos_; }
  std::size_t capacity() const noexcept { return buf_.size(); }
  std::span<const std::uint8_t> written() const noexcept { return buf_.first(pos_); }
  std::uint8_t* data() noexcept { return buf_.data(); }

 private:
  bool reserve(std::size_t n) noexcept {
    if (!ok_ || buf_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::span<std::uint8_t> buf_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

/// Text counterpart of WireWriter, for pipe lines and presentation formats.
class TextWriter {
 public:
  constexpr TextWriter() noexcept = default;
  constexpr TextWriter(char* buf, std::size_t cap) noexcept : buf_(buf), cap_(cap) {}

  void put(char c) noexcept {
    if (ok_ && pos_ < cap_) {
      buf_[pos_++] = c;
    } else {
      ok_ = false;
    }
  }
  void put(std::string_view s) noexcept {
    if (ok_ && cap_ - pos_ >= s.size()) {
      std::memcpy(buf_ + pos_, s.data(), s.size());
      pos_ += s.size();
    } else {
      ok_ = false;
    }
  }
  void put_uint(std::uint64_t v) noexcept {
    char tmp[20];
    std::size_t n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) {
      put(tmp[--n]);
    }
  }
  /// Hands out the free tail of the buffer to a function that writes at most `cap` bytes
  /// and returns how many it wrote (0 = failure).
  template <class F>
  void put_with(F&& f) noexcept {
    if (!ok_) {
      return;
    }
    const std::size_t n = f(buf_ + pos_, cap_ - pos_);
    if (n == 0) {
      ok_ = false;
    } else {
      pos_ += n;
    }
  }
  void truncate(std::size_t len) noexcept {
    if (len <= pos_) {
      pos_ = len;
      ok_ = true;
    }
  }

  bool ok() const noexcept { return ok_; }
  std::size_t size() const noexcept { return pos_; }
  std::string_view view() const noexcept { return {buf_, pos_}; }

 private:
  char* buf_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace amap::dns
