#include "services/rfb/vnc_client.hpp"

#include <rfb/rfbclient.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

namespace shadowlink::rfb {

namespace {

// The largest screen accepted (8K UHD fits): a bound on what a server can make the console allocate.
constexpr int max_side = 8192;

// libvncclient reports through two global log functions. Its chatter is dropped; its errors are
// kept per thread, so that a failed handshake can say why.
thread_local std::string library_error;
void quiet(const char*, ...) {}
void keep_error(const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  library_error = line;
  while (!library_error.empty() && (library_error.back() == '\n' || library_error.back() == '.')) library_error.pop_back();
}

int tag;  // the address identifies this module's client data

// Reads `n` bytes of the stream and forgets them.
bool read_past(rfbClient* c, std::uint64_t n) {
  char sink[4096];
  while (n > 0) {
    const auto k = static_cast<unsigned>(std::min<std::uint64_t>(n, sizeof sink));
    if (!ReadFromRFBServer(c, sink, k)) return false;
    n -= k;
  }
  return true;
}

std::uint32_t big_endian32(const std::uint8_t* p) { return std::uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

// What a server sends only to viewers that asked for it, and libvncclient 0.9.14 does not know:
// noVNC and TigerVNC ask, so a recording of their sessions holds these. Nothing in them changes
// the picture; they are read past (RFB community wiki: ServerFence, EndOfContinuousUpdates,
// DesktopName, QEMU LED state and extended key events, VMware cursor and LED state, CursorWithAlpha).
rfbBool read_past_message(rfbClient* c, rfbServerToClientMsg* m) {
  switch (m->type) {
    case 150:  // EndOfContinuousUpdates: the type alone
      return TRUE;
    case 248: {  // ServerFence: padding (3), flags (4), length (1), payload (at most 64)
      std::uint8_t head[8];
      return ReadFromRFBServer(c, reinterpret_cast<char*>(head), sizeof head) && read_past(c, head[7]);
    }
    default:
      return FALSE;
  }
}

rfbBool read_past_pseudo_rect(rfbClient* c, rfbFramebufferUpdateRectHeader* r) {
  switch (static_cast<std::int32_t>(r->encoding)) {
    case -261:  // QEMU LED state: one byte
      return read_past(c, 1);
    case -307: {  // DesktopName: length (4), the name
      std::uint8_t n[4];
      return ReadFromRFBServer(c, reinterpret_cast<char*>(n), 4) && read_past(c, big_endian32(n));
    }
    case 0x574d5664: {  // VMware cursor: type (1), padding (1), then a mask and pixels (0) or RGBA (1)
      std::uint8_t type[2];
      if (!ReadFromRFBServer(c, reinterpret_cast<char*>(type), 2)) return FALSE;
      const std::uint64_t area = std::uint64_t(r->r.w) * r->r.h;
      return read_past(c, type[0] == 0 ? 2 * area * (c->format.bitsPerPixel / 8) : 4 * area);
    }
    case 0x574d5668:  // VMware LED state: four bytes
      return read_past(c, 4);
    case -258:  // QEMU extended key events: the server's yes, nothing follows
      return TRUE;
    case -314: {  // CursorWithAlpha (TigerVNC): its encoding (4), then the cursor's RGBA pixels, raw
      std::uint8_t encoding[4];
      return ReadFromRFBServer(c, reinterpret_cast<char*>(encoding), 4) && big_endian32(encoding) == 0 &&
             read_past(c, 4 * std::uint64_t(r->r.w) * r->r.h);
    }
    default:
      return FALSE;
  }
}

rfbClientProtocolExtension unknown_to_libvncclient{
    nullptr,  // advertises nothing: a server sends these only to a viewer that asked for them
    read_past_pseudo_rect, read_past_message, nullptr, nullptr, nullptr};

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

char* vnc_client::any_password(rfbClient*) { return strdup("replay"); }

vnc_client::vnc_client(int fd, handlers h, const replay* as) : h_(std::move(h)), replay_(as != nullptr) {
  static std::once_flag registered;
  std::call_once(registered, [] { rfbClientRegisterExtension(&unknown_to_libvncclient); });
  rfbClientLog = quiet;
  rfbClientErr = keep_error;
  library_error.clear();
  // 8 bits a colour, 4 bytes a pixel, red in the lowest byte: R, G, B, unused in memory.
  client_ = rfbGetClient(8, 3, 4);
  if (!client_) {
    ::close(fd);
    throw std::runtime_error("out of memory for the VNC client");
  }
  if (as && as->format) {
    const auto* f = as->format->data();
    auto& pf = client_->format;
    pf.bitsPerPixel = f[0];
    pf.depth = f[1];
    pf.bigEndian = f[2];
    pf.trueColour = f[3];
    pf.redMax = static_cast<std::uint16_t>(f[4] << 8 | f[5]);
    pf.greenMax = static_cast<std::uint16_t>(f[6] << 8 | f[7]);
    pf.blueMax = static_cast<std::uint16_t>(f[8] << 8 | f[9]);
    pf.redShift = f[10];
    pf.greenShift = f[11];
    pf.blueShift = f[12];
  }
  if (as && as->security != 0) {
    const std::uint32_t only[] = {as->security, 0};
    SetClientAuthSchemes(client_, only, -1);
  }
  rfbClientSetClientData(client_, &tag, this);
  client_->MallocFrameBuffer = allocate;
  client_->FinishedFrameBufferUpdate = finished;
  client_->GotFrameBufferUpdate = got_rect;
  client_->GetPassword = as ? any_password : password;
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
    throw std::runtime_error(library_error.empty() ? "the VNC handshake failed" : library_error);
  }
  // A viewer that never sent SetPixelFormat got the server's own format (ServerInit's): a replay
  // of its session decodes in that. (libvncclient decodes in client->format, whatever it sent.)
  if (as && !as->format) client_->format = client_->si.format;
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
  if (replay_) {
    std::uint8_t type = 0;
    if (!ReadFromRFBServer(client_, reinterpret_cast<char*>(&type), 1)) return false;
    if (type == rfbServerCutText) return skip_cut_text();
    // A one-byte read is always served from libvncclient's buffer (RFB_BUF_SIZE bytes): the byte
    // is still there, one place back, for HandleRFBServerMessage to read again.
    --client_->bufoutptr;
    ++client_->buffered;
  }
  return HandleRFBServerMessage(client_);
}

bool vnc_client::skip_cut_text() {
  // libvncclient 0.9.14 ends the stream at a ServerCutText of the extended clipboard (a negative
  // length: RFB community wiki, "Extended Clipboard Pseudo-Encoding"), which Xvnc sends to noVNC
  // as soon as it asks for it. A replay has no clipboard: both kinds are read past here.
  std::uint8_t head[7];  // padding (3), length (4, negative for the extended clipboard)
  if (!ReadFromRFBServer(client_, reinterpret_cast<char*>(head), sizeof head)) return false;
  const auto length = static_cast<std::int32_t>(big_endian32(head + 3));
  const std::uint64_t size = length < 0 ? std::uint64_t(-std::int64_t(length)) : std::uint64_t(length);
  return read_past(client_, size);
}

vnc_client::pixel_format vnc_client::format() const {
  const auto& pf = client_->format;
  return {pf.bitsPerPixel, pf.depth, pf.bigEndian, pf.trueColour,
          std::uint8_t(pf.redMax >> 8), std::uint8_t(pf.redMax), std::uint8_t(pf.greenMax >> 8), std::uint8_t(pf.greenMax),
          std::uint8_t(pf.blueMax >> 8), std::uint8_t(pf.blueMax), pf.redShift, pf.greenShift, pf.blueShift, 0, 0, 0};
}

std::size_t vnc_client::unread() const { return client_->buffered; }

std::string vnc_client::last_error() { return library_error; }

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
    if (!rfb.pump(100'000)) throw std::runtime_error(library_error.empty() ? "the stream ended before a complete screen" : library_error);
  }
  screen_shot shot{rfb.width(), rfb.height(), rfb.desktop_name(), {}};
  shot.rgb.reserve(static_cast<std::size_t>(shot.width) * shot.height * 3);
  const auto& px = rfb.pixels();
  for (std::size_t i = 0; i < px.size(); i += 4) shot.rgb.insert(shot.rgb.end(), px.begin() + i, px.begin() + i + 3);
  return shot;
}

}  // namespace shadowlink::rfb
