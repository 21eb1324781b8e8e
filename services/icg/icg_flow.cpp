// The gateway's part of a shadow session ("IGEL OS 12 — Over ICG" in the seed): one coroutine,
// from the UMS's request to the end of the splice. Every step is reported to the UMS, whose own
// session coroutine awaits those reports.
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/on_exit.hpp"
#include "framework/splice.hpp"
#include "protocol/tunnel_endpoint.hpp"
#include "protocol/rfb_input_filter.hpp"
#include "services/icg/icg_service.hpp"

#include <algorithm>

namespace shadowlink::icg {

awaitable<void> icg_service::relay_session(up::message req, up::link* asked_by) {
  const std::string scope = name_ + "/" + req.session_id;
  auto report = [&](up::kind k, std::string reason, const splice_counters* c = nullptr) {
    up::message m;
    m.type = k;
    m.session_id = req.session_id;
    m.reason = std::move(reason);
    if (c) {
      m.bytes_to_viewer = c->bytes_ba;
      m.bytes_from_viewer = c->bytes_ab;
    }
    to_session_ums(req.session_id, m);
  };
  // (This starts after the request was read: the link that asked may have ended meanwhile, and
  // there would be nobody to report to.)
  if (std::none_of(ums_links_.begin(), ums_links_.end(), [asked_by](const auto& l) { return l.second == asked_by; })) co_return;
  std::string outcome;
  try {
    // 2. The UMS asked us to open a VNC session; the tokens of both ends came with the request.
    auto* device = devices_.link_of(req.device_id);  // verified links only
    if (!device || sessions_.contains(req.session_id)) {
      up::message refused;
      refused.type = up::kind::shadow_refused;
      refused.session_id = req.session_id;
      refused.reason = !device ? "device is not connected to the gateway" : "a session of that id is already under way at the gateway";
      asked_by->send(refused);
      co_return;
    }
    // Its reports go to the node that asked, while that node's link lasts (looked up by the id
    // each time: the link may end while the session runs, and the session with it).
    sessions_[req.session_id] = session_owner{req.device_id, asked_by};
    rv_.open(tickets{req.session_id, req.viewer_token, req.token}, clock::now() + session_timeout_);

    // 3. Ask the device to open a VNC session, with the gateway's own (external) tunnel URL.
    up::message to_device = req;
    to_device.tunnel_url = listener_.public_url + "/tunnel/" + req.session_id;
    to_device.viewer_token.clear();
    to_device.device_id.clear();
    device->send(to_device);
    log::info(scope, "asked device ", req.device_id, " for ", req.user);

    // 4. The device's and the viewer's tunnels arrive, in either order; each is reported.
    auto device_end = co_await rv_.wait(req.session_id, side::device, clock::now() + session_timeout_);
    report(up::kind::tunnel_arrived, "device");
    auto viewer_end = co_await rv_.wait(req.session_id, side::viewer, clock::now() + session_timeout_);
    report(up::kind::tunnel_arrived, "viewer");
    // Ended while both ends were arriving (they may have been delivered before the end came).
    if (ended_early_.contains(req.session_id)) throw system_error(net::error::operation_aborted);

    // 5. VNC data flows through the gateway until either side ends (view only enforced here too).
    if (req.view_only) viewer_end = rfb::make_view_only(std::move(viewer_end), scope);
    splicer sp(*viewer_end, *device_end, up::relay_splice_options(write_stall_));
    active_[req.session_id] = &sp;
    on_exit inactive([&] { active_.erase(req.session_id); });  // however the splice ends
    stop_hook on_shutdown(env_.tasks, [&sp] { sp.stop("gateway shutting down"); });
    const auto end = co_await sp.run();
    outcome = up::session_ending(end);
    if (end.how == splice_end::kind::failed) log::warn(scope, "splice ended: ", outcome);
    report(up::kind::session_ended, outcome, &sp.counters());
  } catch (const std::exception& e) {
    outcome = ending_words(e);
    if (auto early = ended_early_.find(req.session_id); early != ended_early_.end()) outcome = early->second;
    report(up::kind::session_ended, "gateway: " + outcome);
  }
  ended_early_.erase(req.session_id);
  sessions_.erase(req.session_id);
  co_await rv_.finish(req.session_id, outcome);
  log::info(scope, "session ended: ", outcome);
}

}  // namespace shadowlink::icg
