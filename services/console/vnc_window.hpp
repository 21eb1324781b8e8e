#pragma once
// The console's internal viewer: a window on the administrator's desktop (SDL2) showing the
// device's screen, scaled to the window, with keyboard and mouse forwarded unless view-only.
// The window and its RFB client (libvncclient, which blocks) run on a thread of their own; the
// tunnel stays a coroutine on the event loop and reaches that thread through a socket pair.
#include <memory>
#include <string>
#include <thread>

namespace shadowlink::console {

class vnc_window {
 public:
  // Opens the window ("connecting"); throws std::runtime_error if no window can be opened
  // (no DISPLAY, no video driver).
  vnc_window(std::string device, bool view_only);
  // Closes the window and waits for its thread.
  ~vnc_window();
  vnc_window(const vnc_window&) = delete;
  vnc_window& operator=(const vnc_window&) = delete;

  // The session's step, shown in the title while it is being set up.
  void show_state(std::string state);
  // The device's RFB stream: the window's thread owns `fd` from now on.
  void attach(int fd);
  // Why the session ended: shown in the title, over a dimmed picture, for a few seconds; then the
  // window closes. Returns once it has.
  void finish(std::string reason);
  // The administrator closed the window.
  bool closed_by_user() const;
  // What ended the RFB client (a failed handshake, a protocol error), empty if nothing did.
  std::string failure() const;

  // What the console and the window's thread share (under its mutex).
  struct shared;

 private:
  std::shared_ptr<shared> s_;
  std::thread thread_;
};

}  // namespace shadowlink::console
