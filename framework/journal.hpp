#pragma once
// An append-only JSON-lines file, such as the audit trail. A thread of its own does the writing, so
// no coroutine (no splice) ever waits on the disk; a durable record completes only once it is on
// disk (fdatasync), so an action can wait for its record before it is acknowledged. Records that
// may be batched reach the kernel at once and the disk within a second, and always before the
// journal is destroyed. Rotated by size: the full file is renamed with the time of its rotation
// and a new one is started; nothing is ever rewritten or deleted.
#include "framework/net.hpp"

#include <boost/json/object.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shadowlink {

struct journal_options {
  std::filesystem::path dir;
  std::string name = "audit";                 // files: <name>.jsonl, rotated <name>-<UTC time>.jsonl
  std::uint64_t rotate_bytes = 64ull << 20;  // start a new file past this size
  clock::duration sync_interval = 1s;        // batched records reach the disk within this
};

class journal {
 public:
  explicit journal(journal_options o);  // throws std::runtime_error naming the file
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;
  ~journal();  // writes and syncs what is queued, then stops the thread

  // Appends `record` (a "time" field, UTC ISO 8601, is added) and completes once it is on disk.
  // Throws system_error if it cannot be written (the caller refuses what it records).
  awaitable<void> write(boost::json::object record);
  // Appends `record` without waiting for the disk (logins, API token use).
  void note(boost::json::object record);

  // Every record in order, oldest file first, for which `keep` is true, at most the last `limit`.
  // Read by the journal's thread (after everything queued before it is written).
  awaitable<std::vector<boost::json::object>> read(std::function<bool(const boost::json::object&)> keep, std::size_t limit);
  // The first `limit` records whose "time" is `since` or later, oldest first, as written (rotated
  // files older than `since` are not read). On the journal's thread.
  awaitable<std::vector<std::string>> lines_from(std::string since, std::size_t limit);
  // The same as read, synchronously, for start-up (before the journal is in use by coroutines).
  std::vector<boost::json::object> read_now(const std::function<bool(const boost::json::object&)>& keep) const;

  const std::filesystem::path& current_file() const { return path_; }
  // Hears every batch of lines once written to the file and synced (on the journal's thread, in
  // order): a cluster's node ships its audit trail to the other nodes from there.
  void on_written(std::function<void(std::string_view lines)> tap);

 private:
  struct item {
    std::string line;  // with its newline
    bool durable = false;
    std::function<void(error_code)> done;  // durable writes and reads: called on the thread, posts back
    std::function<void()> job;             // a read to run in order with the writes
  };
  void enqueue(item it);
  void run();
  void write_lines(std::string& batch, error_code& ec);
  void rotate_if_needed(std::size_t incoming, error_code& ec);
  void open_current();
  void reopen(error_code& ec);
  std::vector<std::filesystem::path> files_in_order() const;

  journal_options o_;
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<item> queue_;
  std::function<void(std::string_view)> tap_;  // (set under m_)
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace shadowlink
