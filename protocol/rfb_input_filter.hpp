#pragma once
// View-only shadowing: removes keyboard, pointer, clipboard and resize messages from the
// viewer-to-server half of an RFB stream (RFC 6143 §7.5), passing everything else. Unknown
// message types end the session rather than pass unchecked (fail closed).
#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace shadowlink::rfb {

class input_filter {
 public:
  // Bytes `out` must have room for beyond `n`: a message header split across reads is held back
  // and released with the next read.
  static constexpr std::size_t slack = 20;  // the longest fixed message part (SetPixelFormat)

  // Copies the allowed part of `in[0..n)` to `out` (room for n + slack); returns its length. Throws std::runtime_error on input it
  // cannot follow (an RFB version other than 3.7/3.8, a security type other than None/VncAuth,
  // an unknown client message type).
  std::size_t filter(const std::uint8_t* in, std::size_t n, std::uint8_t* out);
  std::uint64_t dropped_messages() const { return dropped_; }

 private:
  enum class phase { version, security, vnc_auth, client_init, header, body };
  void start_message(std::uint8_t type);
  bool header_complete();

  phase phase_ = phase::version;
  std::size_t need_ = 12;  // bytes left in the current fixed part
  bool drop_ = false;
  std::array<std::uint8_t, slack> head_{};  // the fixed part of the current message, to learn its length
  std::size_t head_len_ = 0, head_need_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace shadowlink::rfb

#include "framework/stream.hpp"

namespace shadowlink::rfb {

// Wraps the viewer's side of a tunnel so that only view-only RFB messages come out of its reads;
// writes (the screen, towards the viewer) pass unchanged. A viewer that sends something the
// filter cannot follow gets its reads ended with an error, which ends the session. Every relay
// and the device wrap it (defence in depth); with a `log_scope`, the number of input messages
// dropped is logged when the session ends.
stream_ptr make_view_only(stream_ptr viewer_side, std::string log_scope = {});

}  // namespace shadowlink::rfb
