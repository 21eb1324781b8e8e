#pragma once
// wolfSSL's large allocations (in Debian's build, chiefly the 37 KiB session object each
// connection carries: room for a nine-certificate peer chain, all zeros on a server whose clients
// send no certificate) get pages of their own, so that the pages that are still entirely zero can
// be handed back to the kernel. A page given back reads as zeros again, so wolfSSL sees the same
// memory; only resident memory changes. See README "Scale".
#include <vector>

namespace shadowlink::tls_memory {

// Routes wolfSSL's allocations through this module (idempotent; tls_socket calls it). Memory
// wolfSSL allocated before is still freed correctly: unknown pointers go back to free().
void install();

// Collects the large allocations made while it lives (on this thread).
class capture {
 public:
  capture();
  ~capture();
  capture(const capture&) = delete;
  capture& operator=(const capture&) = delete;
  std::vector<void*> take();

 private:
  std::vector<void*> got_;
  std::vector<void*>* outer_;
};

// Gives back the all-zero pages of these allocations (skipping any already freed).
void release_zero_pages(const std::vector<void*>& allocations);

}  // namespace shadowlink::tls_memory
