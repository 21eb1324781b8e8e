#pragma once
// A minimal RFB (VNC) client: enough to take one full-screen snapshot through a tunnel, for the
// in-process service tests (the console uses Debian's libvncclient: services/console/vnc_client).
// RFC 6143: version 3.8 (or 3.7), security "None", 32-bit true colour, raw encoding.
#include "framework/stream.hpp"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>

namespace shadowlink::rfb {

// The largest screen a snapshot accepts: 8K UHD (7680 x 4320, about 100 MB of RGB) and at most
// 8192 on a side. The server chooses the size; beyond this the capture fails with a clear reason
// instead of allocating what a hostile device asks for.
inline constexpr int max_screen_side = 8192;
inline constexpr std::size_t max_screen_pixels = 7680u * 4320u;

// A screen's pixels, from calloc: a large block is fresh zero pages from the kernel, so the
// pixels cost nothing until an update paints them (a vector would write every byte twice, to
// zero it and to destroy it).
class pixel_buffer {
 public:
  void allocate_zeroed(std::size_t n) {
    p_.reset(static_cast<std::uint8_t*>(std::calloc(n, 1)));
    if (!p_ && n > 0) throw std::bad_alloc();
    n_ = n;
  }
  std::size_t size() const { return n_; }
  std::uint8_t* data() { return p_.get(); }
  const std::uint8_t* data() const { return p_.get(); }
  std::uint8_t& operator[](std::size_t i) { return p_[i]; }
  const std::uint8_t& operator[](std::size_t i) const { return p_[i]; }
  const std::uint8_t& at(std::size_t i) const {
    if (i >= n_) throw std::out_of_range("pixel_buffer::at");
    return p_[i];
  }
  std::span<const std::uint8_t> span() const { return {p_.get(), n_}; }

 private:
  struct free_deleter {
    void operator()(std::uint8_t* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<std::uint8_t[], free_deleter> p_;
  std::size_t n_ = 0;
};

struct framebuffer {
  int width = 0, height = 0;
  std::string name;
  pixel_buffer rgb;  // width * height * 3
};

// Performs the handshake and reads one complete framebuffer. Throws system_error with a clear
// reason (e.g. "VNC server requires a password", "VNC server refused: ...") or timed_out.
awaitable<framebuffer> capture(stream& s, clock::duration deadline);

}  // namespace shadowlink::rfb
