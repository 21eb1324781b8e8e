#pragma once
// A watched office desktop as a load: the device side sends framebuffer-update-sized messages
// (about ten a second, 8 KiB on average, and a 256 KiB one every five seconds, the sizes of an
// office screen with a moving window and an occasional full repaint), the viewer side sends input
// events at a person's rate. Each update carries the time it was due; the viewer measures when its
// last byte arrived. The bytes are not RFB (the relays never parse a full-control session's
// stream); the sizes and timing are what matter to a relay.
#include "framework/stream.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace shadowlink::bench {

struct vnc_profile {
  double updates_per_s = 10;
  std::size_t mean_update = 8 * 1024;
  std::size_t big_update = 256 * 1024;
  double big_every_s = 5;
  double input_events_per_s = 10;
};

// The devices' "VNC server": every connection accepted on 127.0.0.1:port is one session's screen.
// It runs on a thread and io_context of its own, so that the measured viewers never queue behind
// it in this process (as a real VNC server is another program on another machine).
class vnc_screen_server {
 public:
  vnc_screen_server(unsigned short port, vnc_profile profile);
  ~vnc_screen_server();  // stops the thread and closes every connection
  vnc_screen_server(const vnc_screen_server&) = delete;
  vnc_screen_server& operator=(const vnc_screen_server&) = delete;

  std::atomic<std::uint64_t> connections{0}, updates_sent{0}, bytes_sent{0}, input_bytes{0};
  // Screens stay still until this is set (once every session is up): the measured load is the
  // steady one, not a backlog built while sessions were still being set up.
  std::atomic<bool> moving{false};

 private:
  awaitable<void> accept_loop(tcp::acceptor acceptor);
  awaitable<void> screen(tcp::socket s, std::uint32_t seed);
  awaitable<void> drain_input(tcp::socket& s);

  vnc_profile profile_;
  std::vector<char> payload_;  // shared, read-only: what the updates carry
  net::io_context ioc_{1};
  std::thread thread_;
};

struct vnc_viewer_stats {
  std::uint64_t updates = 0, bytes = 0, input_events = 0;
  std::vector<double> latency_us;  // due time -> last byte at the viewer, while `measuring`
  bool measuring = false;
};

// Reads updates (checking their framing) and sends input events until the stream ends or the
// coroutine is cancelled.
awaitable<void> watch_screen(stream& s, vnc_profile profile, std::uint32_t seed, vnc_viewer_stats& stats);

}  // namespace shadowlink::bench
