#include "protocol/rfb_input_filter.hpp"

#include "framework/log.hpp"

#include <boost/system/errc.hpp>

#include <string>
#include <vector>

namespace shadowlink::rfb {

namespace {
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
}  // namespace

// Header bytes needed before a message's full length is known, and whether the message is input.
// Besides RFC 6143's messages this follows what real viewers send once the server advertises the
// matching pseudo-encodings (TigerVNC's Xvnc advertises all of them): fences, continuous updates,
// desktop resizing, xvp, QEMU extended key events, GII and the extended clipboard.
void input_filter::start_message(std::uint8_t type) {
  head_len_ = 0;
  switch (type) {
    case 0: head_need_ = 20; drop_ = false; break;   // SetPixelFormat
    case 2: head_need_ = 4; drop_ = false; break;    // SetEncodings: + 4 * count
    case 3: head_need_ = 10; drop_ = false; break;   // FramebufferUpdateRequest
    case 4: head_need_ = 8; drop_ = true; break;     // KeyEvent
    case 5: head_need_ = 6; drop_ = true; break;     // PointerEvent
    case 6: head_need_ = 8; drop_ = true; break;     // ClientCutText: + length (negative: extended clipboard)
    case 150: head_need_ = 10; drop_ = false; break; // EnableContinuousUpdates
    case 248: head_need_ = 9; drop_ = false; break;  // ClientFence: + length
    case 250: head_need_ = 4; drop_ = true; break;   // xvp: shutdown, reboot, reset of the device
    case 251: head_need_ = 8; drop_ = true; break;   // SetDesktopSize: + 16 * screens
    case 253: head_need_ = 4; drop_ = true; break;   // gii: input devices and their events; + length
    case 255: head_need_ = 4; drop_ = false; break;  // QEMU: the sub-type decides (header_complete)
    default: throw std::runtime_error("view-only: unknown RFB client message type " + std::to_string(type));
  }
}

// Called when head_need_ bytes are in head_: extends the message by its variable part.
bool input_filter::header_complete() {
  std::size_t extra = 0;
  switch (head_[0]) {
    case 2: extra = 4u * be16(&head_[2]); break;
    case 6: {
      // The extended clipboard (TigerVNC, noVNC) sends its messages with a negative length whose
      // absolute value is the payload size; reading it as unsigned swallowed the rest of the stream.
      const auto length = static_cast<std::int64_t>(static_cast<std::int32_t>(be32(&head_[4])));
      extra = static_cast<std::size_t>(length < 0 ? -length : length);
      break;
    }
    case 248: extra = head_[8]; break;
    case 251: extra = 16u * head_[6]; break;
    case 253: {
      // Bit 7 of the second byte says the length field is big-endian.
      const bool big = (head_[1] & 0x80) != 0;
      extra = big ? be16(&head_[2]) : static_cast<std::size_t>(head_[2] | (head_[3] << 8));
      break;
    }
    case 255:
      switch (head_[1]) {
        case 0: drop_ = true; extra = 8; break;                 // extended key event: keysym + keycode
        case 1: extra = be16(&head_[2]) == 2 ? 6 : 0; break;    // audio: enable, disable, set format
        default: throw std::runtime_error("view-only: unknown QEMU client message sub-type " + std::to_string(head_[1]));
      }
      break;
    default: break;
  }
  need_ = extra;
  return extra > 0;
}

std::size_t input_filter::filter(const std::uint8_t* data, std::size_t n, std::uint8_t* dst) {
  std::size_t out = 0;
  for (std::size_t i = 0; i < n;) {
    switch (phase_) {
      case phase::version:
      case phase::vnc_auth: {
        auto take = std::min(need_, n - i);
        if (phase_ == phase::version) {
          for (std::size_t k = 0; k < take; ++k) head_[12 - need_ + k] = data[i + k];
        }
        for (std::size_t k = 0; k < take; ++k) dst[out++] = data[i + k];
        i += take;
        need_ -= take;
        if (need_ == 0) {
          if (phase_ == phase::version) {
            std::string v(head_.begin(), head_.begin() + 12);
            if (v != "RFB 003.008\n" && v != "RFB 003.007\n")
              throw std::runtime_error("view-only: unsupported RFB version from the viewer");
            phase_ = phase::security;
          } else {
            phase_ = phase::client_init;
          }
        }
        break;
      }
      case phase::security: {
        auto type = data[i];
        dst[out++] = data[i++];
        if (type == 1) phase_ = phase::client_init;
        else if (type == 2) { phase_ = phase::vnc_auth; need_ = 16; }
        else throw std::runtime_error("view-only: unsupported RFB security type " + std::to_string(type));
        break;
      }
      case phase::client_init:
        dst[out++] = data[i++];
        phase_ = phase::header;
        head_len_ = 0;
        head_need_ = 0;
        break;
      case phase::header: {
        if (head_len_ == 0) start_message(data[i]);
        while (i < n && head_len_ < head_need_) head_[head_len_++] = data[i++];
        if (head_len_ < head_need_) break;
        bool more = header_complete();
        if (!drop_)
          for (std::size_t k = 0; k < head_len_; ++k) dst[out++] = head_[k];
        else
          ++dropped_;
        head_len_ = 0;
        if (more) phase_ = phase::body;
        break;
      }
      case phase::body: {
        auto take = std::min(need_, n - i);
        if (!drop_)
          for (std::size_t k = 0; k < take; ++k) dst[out++] = data[i + k];
        i += take;
        need_ -= take;
        if (need_ == 0) phase_ = phase::header;
        break;
      }
    }
  }
  return out;
}

}  // namespace shadowlink::rfb

namespace shadowlink::rfb {
namespace {
class view_only_stream final : public stream {
 public:
  view_only_stream(stream_ptr inner, std::string scope) : inner_(std::move(inner)), scope_(std::move(scope)) {}
  ~view_only_stream() override {
    if (!scope_.empty()) log::info(scope_, "view only: ", filter_.dropped_messages(), " input messages dropped");
  }
  awaitable<std::size_t> read_some(net::mutable_buffer b, error_code& ec) override {
    if (b.size() <= input_filter::slack) co_return 0;
    raw_.resize(std::min<std::size_t>(b.size() - input_filter::slack, 64 * 1024));
    for (;;) {
      auto n = co_await inner_->read_some(net::buffer(raw_), ec);
      std::size_t kept = 0;
      try {
        kept = filter_.filter(raw_.data(), n, static_cast<std::uint8_t*>(b.data()));
      } catch (const std::runtime_error&) {
        ec = make_error_code(boost::system::errc::operation_not_permitted);
        co_return 0;
      }
      // Reads that carried only input events yield nothing: read again rather than return 0.
      if (kept > 0 || ec) co_return kept;
    }
  }
  awaitable<void> write(net::const_buffer b, error_code& ec) override { co_await inner_->write(b, ec); }
  void interrupt(std::string_view reason) override { inner_->interrupt(reason); }
  awaitable<void> close(std::string_view reason) override { co_await inner_->close(reason); }
  void abort() noexcept override { inner_->abort(); }
  std::string_view kind() const override { return inner_->kind(); }
  const std::string& peer() const override { return inner_->peer(); }

 private:
  stream_ptr inner_;
  std::string scope_;
  input_filter filter_;
  std::vector<std::uint8_t> raw_;
};
}  // namespace

stream_ptr make_view_only(stream_ptr viewer_side, std::string log_scope) {
  return std::make_unique<view_only_stream>(std::move(viewer_side), std::move(log_scope));
}

}  // namespace shadowlink::rfb
