#pragma once
// Sessions recorded at the relay (the UMS, never the internet-facing gateway). A recording is
// three files in data_dir/recordings, readable by the service user only:
//   ID.fbs        the device's RFB stream towards the viewer, in FBS 001.000 (the format of
//                 rfbproxy and of the RFB players that read it): the 12-byte header "FBS 001.000\n",
//                 then blocks of [data length, 4 bytes big-endian][data, zero-padded to a multiple
//                 of 4][milliseconds since the session started, 4 bytes big-endian];
//   ID.input.fbs  the viewer's RFB stream towards the device (its pixel format, encodings, key,
//                 pointer and clipboard messages), in the same framing;
//   ID.json       what the recording is of: session, device, user, start, and at its end its size
//                 and whether it is complete.
// The splice only copies bytes into a bounded queue; a thread of the store writes them. A
// recording stops (the session goes on, a warning is logged and its state says why) when the disk
// fails or fills, when the writer falls behind by more than the queue bound, or at the size limit.
// Oldest recordings are removed first to keep the total under its limit, each removal logged.
#include "framework/https_server.hpp"
#include "framework/stream.hpp"

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>

namespace shadowlink::ums {

struct recording_limits {
  std::uint64_t per_session = 1ull << 30;  // bytes of both files together
  std::uint64_t total = 20ull << 30;       // all recordings in the directory
  std::uint64_t queue = 8ull << 20;        // bytes waiting for the disk, per recording
};

class recording_store;

class recording : public std::enable_shared_from_this<recording> {
 public:
  enum class direction { to_viewer, from_viewer };
  recording(recording_store& store, std::string id, std::string device, std::string user);
  ~recording();

  // Adds bytes the splice relayed (on the event loop; copies them and returns at once).
  void add(direction d, const std::uint8_t* data, std::size_t n);
  // Stops taking bytes; the files are complete once the writer has caught up (the destructor
  // waits for nothing: the store's writer finishes them).
  void finish();

  const std::string& id() const { return id_; }
  std::uint64_t bytes() const { return accepted_; }
  // "complete", "recording", or why it stopped early ("disk full: ...", "size limit ...").
  std::string state() const;

 private:
  friend class recording_store;
  void stop(std::string why);
  void write_block(std::FILE* f, const std::uint8_t* p, std::size_t n, std::uint32_t ms);  // on the writer

  recording_store& store_;
  std::string id_, device_, user_;
  std::string started_at_;  // UTC, ISO 8601
  clock::time_point start_ = clock::now();
  std::FILE* screen_ = nullptr;  // ID.fbs
  std::FILE* input_ = nullptr;   // ID.input.fbs
  std::uint64_t accepted_ = 0;   // bytes queued or written (event loop)
  std::atomic<std::uint64_t> queued_{0};
  std::atomic<bool> write_failed_{false};  // the writer's: nothing more goes to the files
  mutable std::mutex m_;
  std::string stopped_;  // why it stopped early (either thread)
  bool finished_ = false;
};

class recording_store {
 public:
  recording_store(std::filesystem::path dir, recording_limits limits, std::string log_scope);
  ~recording_store();  // writes what is queued, then closes

  // A new recording for `session_id`; removes the oldest recordings first if the total would
  // pass its limit. Throws system_error if the files cannot be created (the session must then
  // not go ahead unrecorded).
  std::shared_ptr<recording> start(const std::string& session_id, const std::string& device, const std::string& user);
  const std::filesystem::path& dir() const { return dir_; }

  // GET /api/v1/recordings: what ID.json says of each, newest first, with the files' sizes.
  // GET /api/v1/recordings/ID/screen?offset=N (or /input): up to `chunk` bytes of that FBS file
  // from N (a player reads a recording piece by piece; no answer holds more than a chunk).
  // GET /api/v1/recordings/ID/play?offset=N: the same of the recording's browser copy
  // (browser_copy.hpp, ID.play.fbs, made once on the first request, on a thread of its own);
  // 202 with how far it has got ("prepared_ms") while it is being made. Copies are made by this
  // program run as `shadowlinkd browser-copy` (one at a time), never inside the server.
  // The files are read on the store's own thread (after the writes queued before), never on the
  // event loop that relays the sessions.
  static constexpr std::uint64_t chunk = 1u << 20;
  awaitable<http_response> answer(const http_request& req);
  const recording_limits& limits() const { return limits_; }

 private:
  friend class recording;
  http_response answer_now(const http_request& req);  // on the writer
  http_response browser_copy(const http_request& req, const std::string& id, std::uint64_t offset);  // on the writer
  void make_browser_copy(const std::string& id);  // on the copier
  void make_room();
  void close_interrupted();
  void describe(const recording& r, bool done);  // on the writer

  std::filesystem::path dir_;
  recording_limits limits_;
  std::string scope_;
  std::set<std::string> live_;  // recordings being written: each may still grow to the per-session limit
  struct copy_state {
    bool running = false;           // asked for, and not done yet
    bool started = false;           // being made (not waiting behind another copy)
    std::uint32_t prepared_ms = 0;  // the recorded time copied so far
    std::string error, stopped_early;
    clock::time_point failed_at{};
  };
  std::mutex copies_m_;
  std::map<std::string, copy_state> copies_;  // browser copies made or being made since the start
  std::stop_source stopping_;
  // This very program, whose `browser-copy` makes the copies: the running binary even after an
  // upgrade replaced its file (it then reads "(deleted)" where /proc/self/exe points).
  std::filesystem::path helper_ = "/proc/self/exe";
  net::thread_pool writer_{1};
  net::thread_pool copier_{1};  // one browser copy at a time: each replays a whole recording
};

// A stream whose reads are also added to `r` (as `d`); everything else passes to `inner`.
stream_ptr make_recorded(stream& inner, std::shared_ptr<recording> r, recording::direction d);
stream_ptr make_recorded(stream_ptr inner, std::shared_ptr<recording> r, recording::direction d);

}  // namespace shadowlink::ums
