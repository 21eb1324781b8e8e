#include "framework/tls_memory.hpp"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/memory.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>
#include <unordered_map>

namespace shadowlink::tls_memory {
namespace {

// Smaller allocations stay with malloc: they share pages, and wolfSSL fills them anyway.
constexpr std::size_t large = 32 * 1024;

std::mutex mutex;
// Never destroyed: wolfSSL frees memory while the process exits.
std::unordered_map<void*, std::size_t>& regions() {
  static auto* r = new std::unordered_map<void*, std::size_t>;
  return *r;
}
thread_local std::vector<void*>* capturing = nullptr;

std::size_t page() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

void* allocate(std::size_t size) {
  if (size < large) return std::malloc(size);
  const std::size_t rounded = (size + page() - 1) / page() * page();
  void* p = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  {
    std::lock_guard lock(mutex);
    regions().emplace(p, rounded);
  }
  if (capturing) capturing->push_back(p);
  return p;
}

// The size of one of our regions, or 0 for memory that came from malloc. Regions start on a page
// boundary; most of malloc's blocks do not, and wolfSSL frees on every record, so those skip the lock.
std::size_t region_size(void* p) {
  if (reinterpret_cast<std::uintptr_t>(p) % page() != 0) return 0;
  std::lock_guard lock(mutex);
  auto it = regions().find(p);
  return it == regions().end() ? 0 : it->second;
}

void release(void* p) {
  if (!p) return;
  if (const auto n = region_size(p)) {
    {
      std::lock_guard lock(mutex);
      regions().erase(p);
    }
    munmap(p, n);
    return;
  }
  std::free(p);
}

void* reallocate(void* p, std::size_t size) {
  const std::size_t old = p ? region_size(p) : 0;
  if (old == 0 && size < large) return std::realloc(p, size);
  void* q = allocate(size);
  if (!q || !p) return q;
  std::memcpy(q, p, std::min(size, old ? old : ::malloc_usable_size(p)));
  release(p);
  return q;
}

bool all_zero(const unsigned char* p, std::size_t n) {
  static const unsigned char zeros[4096] = {};
  for (std::size_t off = 0; off < n; off += sizeof zeros)
    if (std::memcmp(p + off, zeros, std::min(sizeof zeros, n - off)) != 0) return false;
  return true;
}

}  // namespace

void install() {
  static const bool once = [] {
    wolfSSL_SetAllocators(&allocate, &release, &reallocate);
    return true;
  }();
  (void)once;
}

capture::capture() : outer_(capturing) { capturing = &got_; }
capture::~capture() { capturing = outer_; }
std::vector<void*> capture::take() { return std::move(got_); }

void release_zero_pages(const std::vector<void*>& allocations) {
  for (void* p : allocations) {
    const std::size_t size = region_size(p);
    auto* base = static_cast<unsigned char*>(p);
    std::size_t run = 0;  // zero pages in a row: one madvise per run
    for (std::size_t off = 0; off <= size && size > 0; off += page()) {
      if (off < size && all_zero(base + off, page())) {
        ++run;
        continue;
      }
      if (run) madvise(base + off - run * page(), run * page(), MADV_DONTNEED);
      run = 0;
    }
  }
}

}  // namespace shadowlink::tls_memory
