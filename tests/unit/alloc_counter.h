// SPDX-License-Identifier: MIT
#pragma once
// Replaces the global operator new/delete with counting versions, for the "no allocation
// per query" tests. Include it in exactly ONE source file of a test binary (it defines the
// replacement functions), then compare allocation_count() before and after the loop.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace amap::testing {
inline std::atomic<std::size_t> g_allocation_count{0};
inline std::size_t allocation_count() noexcept {
  return g_allocation_count.load();
}

inline void* counted_alloc(std::size_t n, std::size_t align = 0) noexcept {
  g_allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (align == 0) {
    return std::malloc(n == 0 ? 1 : n);
  }
  return std::aligned_alloc(align, (n + align - 1) / align * align);
}
inline void* counted_or_throw(std::size_t n, std::size_t align = 0) {
  if (void* p = counted_alloc(n, align)) {
    return p;
  }
  throw std::bad_alloc();
}
}  // namespace amap::testing

void* operator new(std::size_t n) {
  return amap::testing::counted_or_throw(n);
}
void* operator new[](std::size_t n) {
  return amap::testing::counted_or_throw(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return amap::testing::counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return amap::testing::counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
  return amap::testing::counted_or_throw(n, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return amap::testing::counted_or_throw(n, static_cast<std::size_t>(al));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
