#pragma once
// The UMS's audit trail: <data_dir>/audit.jsonl (framework/journal.hpp), independent of the log
// level. Session records are on disk before what they record goes ahead (a session is refused if
// its request cannot be recorded); logins and API token use are batched.
#include "framework/journal.hpp"
#include "services/ums/session.hpp"

#include <boost/json/object.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace shadowlink::ums {

// What GET /api/v1/audit and `shadowlink audit` ask for; empty fields match everything.
struct audit_filter {
  std::string device, user;
  std::string since, until;  // ISO 8601 UTC ("2026-11-28T04:00:00Z"), compared as text
  std::size_t limit = 1000;
  bool matches(const boost::json::object& record) const;
};

class audit_trail {
 public:
  audit_trail(const std::filesystem::path& dir, std::uint64_t rotate_bytes);

  // A session's record: event, session, device, user, via, view_only, gateway, plus `details`.
  // Throws system_error if it cannot be written.
  awaitable<void> session(std::string_view event, const shadow_session& s, boost::json::object details);
  awaitable<void> session(std::string_view event, const shadow_session& s) { return session(event, s, {}); }
  // A request refused before a session existed (unknown or offline device, device busy).
  awaitable<void> refusal(std::string_view device, std::string_view user, std::string_view via, std::string_view reason);
  void login(std::string_view user, std::string_view peer, bool ok);
  void api_token(std::string_view user, std::string_view peer, std::string_view request);
  // certificate_issued (via: "direct" or "gateway NAME") or certificate_revoked (by `user`).
  void certificate(std::string_view event, std::string_view device, std::string_view fingerprint, std::string_view user,
                   std::string_view via);
  // A change to the registry (enrollment keys made or deleted, devices enrolled or removed): the
  // record's fields as given, "event" among them; batched like logins.
  void registry_change(boost::json::object record);
  // At start: sessions whose requests were recorded without an end (the server was killed) are
  // ended as "unknown, server restarted". Returns how many.
  std::size_t close_unfinished();
  awaitable<std::vector<boost::json::object>> query(audit_filter f);
  // A cluster's node ships its records to the registry (audit_shipper.hpp): every record once
  // written (on the journal's thread), and the first `limit` records from a time on, read again
  // from the files.
  void on_written(std::function<void(std::string_view lines)> tap) { j_.on_written(std::move(tap)); }
  awaitable<std::vector<std::string>> lines_since(std::string time, std::size_t limit);

  const std::filesystem::path& file() const { return j_.current_file(); }

 private:
  journal j_;
};

}  // namespace shadowlink::ums
