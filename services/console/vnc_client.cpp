#include "services/console/vnc_client.hpp"

#include <rfb/rfbclient.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace shadowlink::console {

namespace {

// The largest screen accepted (8K UHD fits): a bound on what a server can make the console allocate.
constexpr int max_side = 8192;

// libvncclient reports through two global log functions. Its chatter is dropped; its errors are
// kept per thread, so that a failed handshake can say why.
thread_local std::string last_error;
void quiet(const char*, ...) {}
void keep_error(const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  last_error = line;
  while (!last_error.empty() && (last_error.back() == '\n' || last_error.back() == '.')) last_error.pop_back();
}

int tag;  // the address identifies this module's client data

}  // namespace

vnc_client& vnc_client::of(rfbClient* c) { return *static_cast<vnc_client*>(rfbClientGetClientData(c, &tag)); }

std::int8_t vnc_client::allocate(rfbClient* c) {
  auto& self = of(c);
  if (c->width <= 0 || c->height <= 0 || c->width > max_side || c->height > max_side) {
    rfbClientErr("the device's screen is %dx%d; at most %dx%d is shown", c->width, c->height, max_side, max_side);
    return FALSE;
  }
  self.width_ = c->width;
  self.height_ = c->height;
  try {
    self.pixels_.assign(static_cast<std::size_t>(c->width) * c->height * 4, 0);
  } catch (const std::bad_alloc&) {  // never through libvncclient's C frames
    rfbClientErr("no memory for a %dx%d screen", c->width, c->height);
    return FALSE;
  }
  c->frameBuffer = self.pixels_.data();
  if (self.h_.resized) self.h_.resized(c->width, c->height);
  return TRUE;
}

void vnc_client::finished(rfbClient* c) {
  auto& self = of(c);
  if (self.h_.frame_done) self.h_.frame_done();
}

void vnc_client::got_rect(rfbClient* c, int x, int y, int w, int h) {
  auto& self = of(c);
  if (self.h_.painted) self.h_.painted(x, y, w, h);
}

char* vnc_client::password(rfbClient*) {
  // libvncclient frees what this returns.
  const char* p = std::getenv("SHADOWLINK_VNC_PASSWORD");
  if (!p) {
    rfbClientErr("the device's VNC server asks for a password: set SHADOWLINK_VNC_PASSWORD");
    return nullptr;
  }
  return strdup(p);
}

vnc_client::vnc_client(int fd, handlers h) : h_(std::move(h)) {
  rfbClientLog = quiet;
  rfbClientErr = keep_error;
  last_error.clear();
  // 8 bits a colour, 4 bytes a pixel, red in the lowest byte: R, G, B, unused in memory.
  client_ = rfbGetClient(8, 3, 4);
  if (!client_) {
    ::close(fd);
    throw std::runtime_error("out of memory for the VNC client");
  }
  rfbClientSetClientData(client_, &tag, this);
  client_->MallocFrameBuffer = allocate;
  client_->FinishedFrameBufferUpdate = finished;
  client_->GotFrameBufferUpdate = got_rect;
  client_->GetPassword = password;
  client_->canHandleNewFBSize = TRUE;
  // Administrators read text on these screens: JPEG only at high quality. Only encodings that
  // noVNC decodes too, so that a recorded session of this viewer plays back in the Web App.
  client_->appData.encodingsString = "tight copyrect hextile rre raw";
  client_->appData.compressLevel = 6;
  client_->appData.qualityLevel = 9;
  // The stream is already connected (the console's end of a socket pair): no connect, no listen.
  client_->listenSpecified = TRUE;
  client_->sock = fd;
  // A device silent in the middle of a message must not hold this thread (and the window) forever.
  client_->readTimeout = 30;
  if (!rfbInitClient(client_, nullptr, nullptr)) {
    client_ = nullptr;  // rfbInitClient has freed it and closed the socket
    throw std::runtime_error(last_error.empty() ? "the VNC handshake failed" : last_error);
  }
}

vnc_client::~vnc_client() {
  if (!client_) return;
  client_->frameBuffer = nullptr;  // ours (pixels_), not libvncclient's to free
  rfbClientCleanup(client_);
}

bool vnc_client::pump(unsigned wait_us) {
  // A message already read into libvncclient's buffer would not wake select().
  if (client_->buffered == 0) {
    const int n = WaitForMessage(client_, wait_us);
    if (n < 0) return false;
    if (n == 0) return true;
  }
  return HandleRFBServerMessage(client_);
}

void vnc_client::shut_down() { ::shutdown(client_->sock, SHUT_RDWR); }

std::string vnc_client::desktop_name() const { return client_->desktopName ? client_->desktopName : ""; }

void vnc_client::pointer(int x, int y, int buttons) { SendPointerEvent(client_, x, y, buttons); }

void vnc_client::key(std::uint32_t keysym, bool down) { SendKeyEvent(client_, keysym, down ? TRUE : FALSE); }

screen_shot take_screen_shot(int fd, std::chrono::steady_clock::duration deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  // Complete once updates have painted as many pixels as the screen has: libvncclient's first
  // request asks for all of it, and an update may carry only the cursor or the desktop's name.
  std::uint64_t painted = 0, screen = 0;
  bool done = false;
  vnc_client rfb(fd, {[&](int w, int h) { screen = static_cast<std::uint64_t>(w) * h; }, [&] { done = screen > 0 && painted >= screen; },
                      [&](int, int, int w, int h) { painted += static_cast<std::uint64_t>(w) * h; }});
  while (!done) {
    if (std::chrono::steady_clock::now() > until) throw std::runtime_error("no complete screen within the deadline");
    if (!rfb.pump(100'000)) throw std::runtime_error(last_error.empty() ? "the stream ended before a complete screen" : last_error);
  }
  screen_shot shot{rfb.width(), rfb.height(), rfb.desktop_name(), {}};
  shot.rgb.reserve(static_cast<std::size_t>(shot.width) * shot.height * 3);
  const auto& px = rfb.pixels();
  for (std::size_t i = 0; i < px.size(); i += 4) shot.rgb.insert(shot.rgb.end(), px.begin() + i, px.begin() + i + 3);
  return shot;
}

}  // namespace shadowlink::console
