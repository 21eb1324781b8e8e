#pragma once
// Messages between the UMS nodes of a cluster, over the PostgreSQL database they share: each node
// LISTENs on a channel named after it, and the others NOTIFY it (registry::notify). Chosen over
// node-to-node links because every node must reach the database anyway: nodes need neither one
// another's addresses nor credentials for one another, a node that starts or dies changes no
// other node's configuration, and nothing new is exposed on the network. A notification reaches
// whoever listens at the time: one sent to a node that was just killed is lost with it, which is
// why every wait for another node's answer has its own deadline.
#include "framework/net.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace shadowlink::ums {

class cluster_bus {
 public:
  cluster_bus(std::string conninfo, std::string node);
  ~cluster_bus();
  cluster_bus(const cluster_bus&) = delete;
  cluster_bus& operator=(const cluster_bus&) = delete;

  // The channel a node listens on.
  static std::string channel_of(std::string_view node);

  // Listens until stop() or its task's cancellation: connects (again, after a pause, when the
  // connection is lost) and hands each notification's payload to `deliver`, on the caller's
  // executor; `listening` is called at every (re)connection (what was sent meanwhile is lost).
  awaitable<void> run(std::function<void(std::string_view payload)> deliver, std::function<void()> listening);
  void stop();

 private:
  std::string conninfo_, channel_, scope_;
  net::thread_pool connect_thread_{1};  // (libpq connects blocking)
  net::posix::stream_descriptor* socket_ = nullptr;  // while listening
  net::steady_timer* retry_ = nullptr;               // while running
  bool stopped_ = false;
};

}  // namespace shadowlink::ums
