#pragma once
// A cluster's audit trail. Each node's own file stays the record a session waits for (audit.hpp);
// what it writes is also shipped, once a second, into the registry's audit table, where
// GET /api/v1/audit on any node reads every node's records. What a node killed with SIGKILL had not
// shipped is in its file, and is shipped when it starts again: from the time of its latest record
// in the table. A record shipped twice is kept once: the node and the record's text name it (so
// two records of the same text in the same millisecond, a burst of one user's failed logins from
// one address, are one record in the cluster's trail, though two in the node's file).
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace shadowlink::ums {

class audit_shipper {
 public:
  // Lines waiting for a shipment; beyond this (the database down a long time), the file is read
  // again from the latest time shipped instead.
  static constexpr std::size_t max_waiting = 50'000;
  // Lines a shipment: a backlog goes a batch a second, never holding the registry's thread long.
  static constexpr std::size_t per_shipment = 500;

  // At start: the time of this node's latest record in the table ("" for none).
  void start(std::string latest);
  // What the journal wrote (on its thread).
  void written(std::string_view lines);

  struct batch {
    std::vector<std::string> lines;
    bool read_again = false;  // read the file from since() instead: at start, after an overflow or a failure
  };
  batch take();
  const std::string& since() const { return latest_; }
  // The batch was shipped (`full`: there may be more in the file than was read).
  void shipped(const std::string& latest, bool full);
  void failed();  // nothing is lost: the file is read again next time

 private:
  std::mutex m_;
  std::vector<std::string> waiting_;
  bool read_again_ = true;
  std::string latest_;  // the latest time shipped (the event loop's)
};

}  // namespace shadowlink::ums
