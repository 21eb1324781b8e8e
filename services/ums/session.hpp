#pragma once
// One shadow session as the UMS sees it: what the flow coroutines and the REST API share.
#include "framework/meeting_point.hpp"
#include "framework/splice.hpp"
#include "protocol/up_message.hpp"

#include <boost/beast/http/status.hpp>

#include <memory>
#include <stdexcept>
#include <string>

namespace shadowlink::ums {

// What the REST handler waiting for step 4 receives: the session's coordinates, or why not.
struct session_answer {
  unsigned status = 0;  // HTTP status
  std::string body;     // JSON
};

// A flow step that failed in a way the requester must hear about, with the HTTP status to use.
struct flow_error : std::runtime_error {
  flow_error(boost::beast::http::status s, std::string what) : std::runtime_error(std::move(what)), status(s) {}
  boost::beast::http::status status;
};

class recording;

struct shadow_session {
  explicit shadow_session(net::any_io_executor ex)
      : changed(ex, clock::time_point::max()), device_answer(ex), answer(ex), reports(ex) {}

  std::string id;
  std::string device_id;
  std::string user;
  std::string via;  // "console" or "webapp"
  bool view_only = false;
  bool recorded = false;  // the device's policy: the UMS relays and records it
  std::string ref;  // the Web App's reference for its request, to follow the set-up by
  // Where the set-up stands, in the words the console and the Web App show ("asking the device",
  // "waiting for the device's user", "connecting", "waiting for the viewer", "active", "ended"),
  // and when the current step gives up (none once active: liveness and idle limits bound it then).
  std::string state = "requested";
  clock::time_point deadline{};
  void step(std::string words, clock::time_point until = {}) {
    state = std::move(words);
    deadline = until;
    changed.expires_at(clock::time_point::max());  // wakes the requests waiting for the next step
  }
  // Never expires: each step() cancels the waits on it (GET /api/v1/sessions/ID?after=STATE).
  net::steady_timer changed;
  clock::time_point created = clock::now();
  clock::time_point started{};  // splice began
  std::string tunnel_url, viewer_token;  // step 4 of a console flow, until the viewer's tunnel arrives
  std::string device_address, device_pin, password;  // OS 11: the device's legacy port and the session password
  // OS 11 console: the VNC data bypasses the UMS, so the device's reports (its end, and its
  // heartbeats naming the session) are how the UMS knows the session still runs.
  bool ends_on_device = false;
  clock::time_point last_report{};
  bool asked = false;  // the shadow request went to the device (directly): it is told of the end
  // In a cluster, the node the device's UP link is on when it is not this one: step 2 and the
  // device's answers pass through that node (cluster_routing.cpp); the device's tunnel comes here.
  std::string device_node;

  meeting_point<up::message> device_answer;  // step 2: accepted / refused, from the UP link
  meeting_point<session_answer> answer;      // step 4: for the REST handler
  mailbox<up::message> reports;              // over an ICG: the gateway's reports (tunnel arrived, ended)
  std::string gateway;                       // over an ICG: its name
  splicer* active = nullptr;                 // set while step 6 runs
  std::string end_reason;
  bool ended = false;
  std::uint64_t bytes_to_viewer = 0, bytes_from_viewer = 0;  // when it ended
  std::shared_ptr<ums::recording> recording;  // while and after its splice, if recorded

  // Ends the session from outside (REST DELETE, device offline, shutdown) at whatever step it is.
  void stop(std::string reason) {
    if (ended) return;
    if (end_reason.empty()) end_reason = reason;
    if (active) {
      active->stop(reason);
    } else {
      device_answer.close();
      reports.close();
      if (on_stop) on_stop();
    }
  }
  std::function<void()> on_stop;  // cancels waits outside the session (the rendezvous)
};

using session_ptr = std::shared_ptr<shadow_session>;

}  // namespace shadowlink::ums
