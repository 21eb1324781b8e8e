#pragma once
// An RFB client: Debian's libvncclient (Tight, ZRLE, CopyRect..., VNC authentication) over a
// connected socket: the console's viewer window and snapshot (the socket's other end is spliced
// with the tunnel by the console's coroutine), and replays of recordings (recording_replay.hpp).
// libvncclient blocks, so a vnc_client lives on a thread of its own (the window's, the snapshot's,
// a recording export's).
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

struct _rfbClient;

namespace shadowlink::rfb {

class vnc_client {
 public:
  struct handlers {
    std::function<void(int width, int height)> resized;  // the framebuffer was (re)allocated
    std::function<void()> frame_done;                    // a framebuffer update is complete
    std::function<void(int x, int y, int w, int h)> painted;  // a rectangle of it has new pixels
  };
  // Replaying a stream recorded for another viewer: libvncclient must decode what that viewer
  // negotiated (its pixel format, its security type); what the client sends goes nowhere.
  using pixel_format = std::array<std::uint8_t, 16>;  // as on the wire (RFC 6143 §7.4)
  struct replay {
    std::optional<pixel_format> format;  // the viewer's SetPixelFormat; none: it kept the server's
    std::uint8_t security = 0;           // the type the viewer chose (0: the server's choice, RFB 3.3)
  };
  // Takes `fd` (closed by the destructor); reads the server's greeting and initialisation.
  // Throws std::runtime_error with libvncclient's reason if the handshake fails. The password for
  // VNC authentication comes from SHADOWLINK_VNC_PASSWORD (when replaying, any will do).
  vnc_client(int fd, handlers h, const replay* as = nullptr);
  ~vnc_client();
  vnc_client(const vnc_client&) = delete;
  vnc_client& operator=(const vnc_client&) = delete;

  // Handles the server's messages that arrive within `wait_us` microseconds. False once the
  // stream has ended or failed.
  bool pump(unsigned wait_us);
  // Bytes libvncclient has read from the socket but not yet handled.
  std::size_t unread() const;
  // Why the stream ended or failed, in libvncclient's words (empty if it did not say).
  static std::string last_error();
  // Ends the stream in both directions (the splice on the other end sees it at once).
  void shut_down();

  int width() const { return width_; }
  int height() const { return height_; }
  // The framebuffer, 4 bytes a pixel in memory order R, G, B, unused.
  const std::vector<std::uint8_t>& pixels() const { return pixels_; }
  std::string desktop_name() const;
  // The format the pixels are in.
  pixel_format format() const;

  void pointer(int x, int y, int buttons);
  void key(std::uint32_t keysym, bool down);

 private:
  static std::int8_t allocate(_rfbClient* c);  // libvncclient's rfbBool
  static void finished(_rfbClient* c);
  static void got_rect(_rfbClient* c, int x, int y, int w, int h);
  static char* password(_rfbClient* c);
  static char* any_password(_rfbClient* c);
  bool skip_cut_text();
  static vnc_client& of(_rfbClient* c);

  _rfbClient* client_ = nullptr;
  handlers h_;
  bool replay_ = false;
  int width_ = 0, height_ = 0;
  std::vector<std::uint8_t> pixels_;
};

// One complete screen, 3 bytes a pixel (R, G, B).
struct screen_shot {
  int width = 0, height = 0;
  std::string name;
  std::vector<std::uint8_t> rgb;
};

// Reads the device's first complete screen from `fd` (owned, closed on return) within `deadline`;
// blocks, so it runs on a thread of its own. Throws std::runtime_error with the reason.
screen_shot take_screen_shot(int fd, std::chrono::steady_clock::duration deadline);

}  // namespace shadowlink::rfb
