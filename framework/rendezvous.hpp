#pragma once
// Where two tunnel ends of one session meet, arriving in either order. Each side (viewer, device)
// presents its own one-time token minted for that session and side; tokens are compared in
// constant time and consumed on use, and refused after the session's expiry.
#include "framework/meeting_point.hpp"
#include "framework/stream.hpp"

#include <array>
#include <map>
#include <optional>
#include <string>

namespace shadowlink {

enum class side { viewer = 0, device = 1 };
std::string_view to_string(side s);

struct tickets {
  std::string session_id;
  std::string viewer_token;
  std::string device_token;
};

class rendezvous {
 public:
  explicit rendezvous(net::any_io_executor ex) : ex_(std::move(ex)) {}

  // Mints a token per side for a new session.
  tickets open(std::string session_id, clock::time_point expires);
  // Registers tokens minted elsewhere (a gateway receives them from the UMS).
  void open(const tickets& t, clock::time_point expires);

  struct claim_result {
    std::optional<side> who;
    std::string error;  // "unknown session", "expired", "invalid token", "token already used", too many wrong
  };
  // After this many wrong tokens for one session, nothing more is compared for it: its tunnel
  // URL is being guessed at (tokens are 128-bit random, so this is a bound on work, not luck).
  static constexpr int max_wrong_tokens = 16;
  // Checks and consumes a presented token. The side is the one whose token matches.
  claim_result claim(std::string_view session_id, std::string_view token);

  // Hands a connected end over after a successful claim; false if the session is gone.
  bool deliver(std::string_view session_id, side who, stream_ptr end);

  // The session's coroutine awaits an end; throws step_timed_out at the deadline, naming the side
  // that did not come.
  awaitable<stream_ptr> wait(std::string_view session_id, side who, clock::time_point deadline);

  // Makes the session's waiters give up (operation_aborted) without removing it.
  void cancel(std::string_view session_id);

  // Removes the session; ends that arrived but were never taken are closed with `reason`.
  awaitable<void> finish(std::string_view session_id, std::string_view reason);

  bool contains(std::string_view session_id) const { return entries_.count(std::string(session_id)) != 0; }
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    explicit entry(net::any_io_executor ex) : ends{meeting_point<stream_ptr>(ex), meeting_point<stream_ptr>(ex)} {}
    std::array<std::string, 2> tokens;
    std::array<bool, 2> used{false, false};
    int wrong = 0;  // wrong tokens presented for this session
    clock::time_point expires;
    std::array<meeting_point<stream_ptr>, 2> ends;
  };
  entry* find(std::string_view id);

  net::any_io_executor ex_;
  std::map<std::string, std::unique_ptr<entry>, std::less<>> entries_;
};

}  // namespace shadowlink
