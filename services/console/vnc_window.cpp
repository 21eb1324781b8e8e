#include "services/console/vnc_window.hpp"

#include "services/console/sdl_keys.hpp"
#include "services/rfb/vnc_client.hpp"

#include <SDL2/SDL.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

namespace shadowlink::console {

using namespace std::chrono_literals;
using rfb::vnc_client;

struct vnc_window::shared {
  std::string device;
  bool view_only = false;
  mutable std::mutex m;
  std::condition_variable cv;
  // From the console to the window's thread.
  std::string state = "connecting";
  int fd = -1;
  std::optional<std::string> ended;
  bool quit = false;
  // From the window's thread.
  bool closed_by_user = false, done = false;
  std::string failure;
};

namespace {

// How long the window shows why the session ended before it closes.
constexpr auto linger = 4s;
// How long the thread waits for the console to say why, once the stream has ended.
constexpr auto reason_wait = 3s;

std::string title_of(const std::string& device, const std::string& state) { return "shadowlink: " + device + " - " + state; }

// The window, its renderer and the texture holding the device's screen.
class screen {
 public:
  explicit screen(const std::string& title) {
    // Ctrl-C stays the console's (it ends the session politely), not SDL's.
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    if (SDL_Init(SDL_INIT_VIDEO) != 0) throw std::runtime_error(std::string("cannot open a window: ") + SDL_GetError());
    // Without a desktop SDL may settle for a driver that shows nothing to anyone (offscreen).
    const std::string driver = SDL_GetCurrentVideoDriver() ? SDL_GetCurrentVideoDriver() : "";
    if (driver != "x11" && driver != "wayland") {
      SDL_Quit();
      throw std::runtime_error("cannot open a window: no desktop (DISPLAY or WAYLAND_DISPLAY is not set; SDL's video driver is '" +
                               driver + "')");
    }
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
    window_ = SDL_CreateWindow(title.c_str(), SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, 640, 480, SDL_WINDOW_RESIZABLE);
    if (window_) renderer_ = SDL_CreateRenderer(window_, -1, 0);
    if (!renderer_) {
      std::string why = SDL_GetError();
      release();
      throw std::runtime_error("cannot open a window: " + why);
    }
    present();
  }
  ~screen() { release(); }
  screen(const screen&) = delete;
  screen& operator=(const screen&) = delete;

  void release() {
    if (texture_) SDL_DestroyTexture(texture_);
    if (renderer_) SDL_DestroyRenderer(renderer_);
    if (window_) SDL_DestroyWindow(window_);
    texture_ = nullptr;
    renderer_ = nullptr;
    window_ = nullptr;
    SDL_Quit();
  }

  void title(const std::string& t) { SDL_SetWindowTitle(window_, t.c_str()); }

  // A new framebuffer size: the window takes it (within the desktop's usable area), and the
  // picture scales to whatever size the administrator gives the window, keeping its proportions.
  void resize(int w, int h) {
    if (texture_) SDL_DestroyTexture(texture_);
    texture_ = SDL_CreateTexture(renderer_, SDL_PIXELFORMAT_XBGR8888, SDL_TEXTUREACCESS_STREAMING, w, h);
    SDL_RenderSetLogicalSize(renderer_, w, h);
    SDL_Rect usable{0, 0, w, h};
    SDL_GetDisplayUsableBounds(std::max(0, SDL_GetWindowDisplayIndex(window_)), &usable);
    const double fit = std::min({1.0, 0.9 * usable.w / w, 0.9 * usable.h / h});
    SDL_SetWindowSize(window_, std::max(1, static_cast<int>(w * fit)), std::max(1, static_cast<int>(h * fit)));
    w_ = w;
    h_ = h;
  }

  void update(const std::vector<std::uint8_t>& pixels) {
    if (texture_) SDL_UpdateTexture(texture_, nullptr, pixels.data(), w_ * 4);
  }

  void dim() {
    if (texture_) SDL_SetTextureColorMod(texture_, 90, 90, 90);
  }

  void present() {
    SDL_SetRenderDrawColor(renderer_, 0, 0, 0, 255);
    SDL_RenderClear(renderer_);
    if (texture_) SDL_RenderCopy(renderer_, texture_, nullptr, nullptr);
    SDL_RenderPresent(renderer_);
  }

  // A pointer position in the device's screen (the renderer has scaled it already; the borders
  // of a letterboxed window are clamped to the screen's edge).
  std::pair<int, int> clamp(int x, int y) const { return {std::clamp(x, 0, std::max(0, w_ - 1)), std::clamp(y, 0, std::max(0, h_ - 1))}; }

 private:
  SDL_Window* window_ = nullptr;
  SDL_Renderer* renderer_ = nullptr;
  SDL_Texture* texture_ = nullptr;
  int w_ = 0, h_ = 0;
};

// Keyboard and mouse of the window, forwarded to the device in RFB terms.
class input_forwarder {
 public:
  explicit input_forwarder(vnc_client& rfb, const screen& s) : rfb_(rfb), screen_(s) {}

  void handle(const SDL_Event& e) {
    switch (e.type) {
      case SDL_MOUSEMOTION: move(e.motion.x, e.motion.y); break;
      case SDL_MOUSEBUTTONDOWN:
      case SDL_MOUSEBUTTONUP: {
        const int bit = e.button.button == SDL_BUTTON_LEFT ? 1 : e.button.button == SDL_BUTTON_MIDDLE ? 2 : e.button.button == SDL_BUTTON_RIGHT ? 4 : 0;
        buttons_ = e.type == SDL_MOUSEBUTTONDOWN ? buttons_ | bit : buttons_ & ~bit;
        move(e.button.x, e.button.y);
        break;
      }
      case SDL_MOUSEWHEEL: {
        // RFB has no wheel: buttons 4 (up) and 5 (down), pressed and released.
        const int bit = e.wheel.y > 0 ? 8 : e.wheel.y < 0 ? 16 : 0;
        if (!bit) break;
        rfb_.pointer(x_, y_, buttons_ | bit);
        rfb_.pointer(x_, y_, buttons_);
        break;
      }
      case SDL_KEYDOWN:
      case SDL_KEYUP: key(e.key.keysym, e.type == SDL_KEYDOWN); break;
      case SDL_TEXTINPUT:
        for (auto ks : text_keysyms(e.text.text)) {
          rfb_.key(ks, true);
          rfb_.key(ks, false);
        }
        break;
      case SDL_WINDOWEVENT:
        // Keys held when the window loses the focus would stay pressed on the device.
        if (e.window.event == SDL_WINDOWEVENT_FOCUS_LOST) release_all();
        break;
      default: break;
    }
  }

 private:
  void move(int x, int y) {
    std::tie(x_, y_) = screen_.clamp(x, y);
    rfb_.pointer(x_, y_, buttons_);
  }
  void key(const SDL_Keysym& k, bool down) {
    std::uint32_t ks = special_keysym(k.sym);
    // With Ctrl, Alt or the logo key held SDL types no text: the key itself is sent (Ctrl+C).
    const bool chord = (k.mod & (KMOD_CTRL | KMOD_ALT | KMOD_GUI)) != 0;
    if (!ks && k.sym >= 0x20 && k.sym < 0x7f && (chord || (!down && held_.contains(static_cast<std::uint32_t>(k.sym)))))
      ks = static_cast<std::uint32_t>(k.sym);
    if (!ks) return;
    if (down) held_.insert(ks);
    else if (!held_.erase(ks)) return;
    rfb_.key(ks, down);
  }
  void release_all() {
    for (auto ks : held_) rfb_.key(ks, false);
    held_.clear();
    if (buttons_) rfb_.pointer(x_, y_, buttons_ = 0);
  }

  vnc_client& rfb_;
  const screen& screen_;
  int buttons_ = 0, x_ = 0, y_ = 0;
  std::set<std::uint32_t> held_;
};

bool is_close(const SDL_Event& e) {
  return e.type == SDL_QUIT || (e.type == SDL_WINDOWEVENT && e.window.event == SDL_WINDOWEVENT_CLOSE);
}

void run(vnc_window::shared& s, std::promise<void>& opened) {
  std::optional<screen> win;
  try {
    win.emplace(title_of(s.device, s.state));
  } catch (...) {
    opened.set_exception(std::current_exception());
    return;
  }
  opened.set_value();
  std::unique_ptr<vnc_client> rfb;
  std::optional<input_forwarder> input;
  bool dirty = false;
  std::string shown;
  auto mode = std::string(s.view_only ? "view only" : "full control");
  for (;;) {
    int fd = -1;
    {
      std::lock_guard lock(s.m);
      if (s.quit || s.ended) break;
      if (!rfb) std::swap(fd, s.fd);
      const auto title = title_of(s.device, rfb ? mode : s.state);
      if (title != shown) win->title(shown = title);
    }
    if (fd >= 0) {
      try {
        rfb = std::make_unique<vnc_client>(fd, vnc_client::handlers{[&](int w, int h) { win->resize(w, h); }, [&] { dirty = true; }, {}});
        if (!s.view_only) input.emplace(*rfb, *win);
      } catch (const std::exception& e) {
        std::lock_guard lock(s.m);
        s.failure = e.what();
        break;
      }
    }
    SDL_Event e;
    bool closing = false;
    while (!closing && SDL_PollEvent(&e)) {
      closing = is_close(e);
      if (input) input->handle(e);
      if (e.type == SDL_WINDOWEVENT) dirty = true;
    }
    if (closing) {
      std::lock_guard lock(s.m);
      s.closed_by_user = true;
      break;
    }
    if (rfb && !rfb->pump(10'000)) break;
    if (!rfb) SDL_WaitEventTimeout(nullptr, 50);
    if (dirty && rfb) win->update(rfb->pixels());
    if (dirty) win->present();
    dirty = false;
  }
  if (rfb) rfb->shut_down();  // the console's splice sees this end at once
  std::unique_lock lock(s.m);
  if (!s.closed_by_user && !s.quit) {
    s.cv.wait_for(lock, reason_wait, [&] { return s.ended || s.quit; });
    const auto reason = s.ended ? *s.ended : !s.failure.empty() ? s.failure : std::string("the connection ended");
    lock.unlock();
    win->title(title_of(s.device, "session ended: " + reason));
    win->dim();
    win->present();
    const auto until = std::chrono::steady_clock::now() + linger;
    while (std::chrono::steady_clock::now() < until) {
      SDL_Event e;
      if (SDL_WaitEventTimeout(&e, 100) && is_close(e)) break;
      win->present();
    }
    lock.lock();
  }
  lock.unlock();
  input.reset();
  rfb.reset();
  win.reset();
  lock.lock();
  s.done = true;
  s.cv.notify_all();
}

}  // namespace

vnc_window::vnc_window(std::string device, bool view_only) : s_(std::make_shared<shared>()) {
  s_->device = std::move(device);
  s_->view_only = view_only;
  std::promise<void> opened;
  auto ready = opened.get_future();
  thread_ = std::thread([s = s_, &opened] { run(*s, opened); });
  try {
    ready.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

vnc_window::~vnc_window() {
  {
    std::lock_guard lock(s_->m);
    s_->quit = true;
    if (s_->fd >= 0) ::close(s_->fd);
    s_->fd = -1;
  }
  s_->cv.notify_all();
  thread_.join();
}

void vnc_window::show_state(std::string state) {
  std::lock_guard lock(s_->m);
  s_->state = std::move(state);
}

void vnc_window::attach(int fd) {
  std::lock_guard lock(s_->m);
  // A window already gone takes nothing: closing the fd ends the splice at once.
  if (s_->done || s_->closed_by_user) {
    ::close(fd);
    return;
  }
  s_->fd = fd;
}

void vnc_window::finish(std::string reason) {
  std::unique_lock lock(s_->m);
  if (!s_->ended) s_->ended = std::move(reason);
  s_->cv.notify_all();
  s_->cv.wait_for(lock, reason_wait + linger + 2s, [&] { return s_->done; });
}

bool vnc_window::closed_by_user() const {
  std::lock_guard lock(s_->m);
  return s_->closed_by_user;
}

std::string vnc_window::failure() const {
  std::lock_guard lock(s_->m);
  return s_->failure;
}

}  // namespace shadowlink::console
