#pragma once
// The hot path: a bidirectional pump between any two streams.
//  - bounded: one fixed buffer per direction, so a stalled reader stops the writer (backpressure);
//  - one ending rule for every combination: when either direction ends, what was already read is
//    delivered, the other direction is interrupted, then both ends are closed politely within
//    `close_deadline` and forcibly after it;
//  - an idle timeout, a write-stall timeout, and stop() from outside; counters for metrics.
#include "framework/stream.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace shadowlink {

struct splice_options {
  clock::duration idle_timeout = 10min;   // no byte in either direction
  clock::duration write_timeout = 30s;    // one write blocked this long means a dead or stuck peer
  clock::duration close_deadline = 2s;
  // What the ends are called in the close reason each end is sent ("device closed without TLS
  // close_notify"): a relay names them, so that a viewer hears which side went away.
  std::string a_name = "the other end", b_name = "the other end";
};

struct splice_counters {
  std::uint64_t bytes_ab = 0, bytes_ba = 0;
  std::uint64_t messages_ab = 0, messages_ba = 0;
  std::size_t buffered = 0;      // bytes read and not yet written, both directions
  std::size_t max_buffered = 0;  // high-water mark of `buffered`
};

// How a splice ended. The words for logs, audit lines, close reasons and REST answers come from
// words(), with the names of the two ends ("viewer", "device", ...).
struct splice_end {
  enum class kind {
    closed,         // an end closed (WebSocket close, TLS close_notify, TCP FIN)
    truncated,      // an end's TLS connection ended without close_notify (a vanished peer, or an attack)
    reset,          // an end's TCP connection was reset (it closed, or was killed, with bytes unread)
    failed,         // an end failed (a TLS error such as a bad MAC, or another I/O error)
    idle_timeout,   // no byte in either direction for the idle timeout
    write_timeout,  // one write blocked for the write timeout
    stopped,        // stop() from outside, with its reason
    cancelled,      // the owner cancelled the coroutine
  };
  kind how = kind::closed;
  bool by_a = true;    // closed, truncated, failed: which end
  std::string detail;  // stopped: the reason given; failed: the error
  std::string words(std::string_view a_name, std::string_view b_name) const;
  bool operator==(const splice_end&) const = default;
};

// One direction's buffer. Why two sizes: a session holds two of them for as long as it lasts, and
// most of that time it is idle or interactive (keystrokes, pointer moves, small screen updates); a
// bulk transfer (a full screen) gets the big one from its second read on and keeps it while reads
// fill it, so throughput does not change.
class splice_buffer {
 public:
  static constexpr std::size_t big_size = 64 * 1024;
  static constexpr std::size_t small_size = 4 * 1024;
  // Where the next read goes.
  net::mutable_buffer space() { return big_ ? net::buffer(big_.get(), big_size) : net::buffer(small_); }
  // What the last read put there (valid until after_read).
  const char* data() const { return big_ ? big_.get() : small_.data(); }
  // After the read's bytes were written on: a read that filled the small buffer gets the big one
  // for the next reads; eight reads in a row that the small one would have held give it back.
  void after_read(std::size_t n);
  bool holds_big() const { return big_ != nullptr; }

 private:
  std::array<char, small_size> small_;
  std::unique_ptr<char[]> big_;  // allocated uninitialised: its pages become resident only as used
  int small_reads_ = 0;          // in a row, while big_ is held
};

class splicer {
 public:
  // The most one direction holds (read and not yet written): the bound on what a stalled peer costs.
  static constexpr std::size_t buffer_size = splice_buffer::big_size;

  splicer(stream& a, stream& b, splice_options o = {});
  splicer(const splicer&) = delete;
  splicer& operator=(const splicer&) = delete;

  // Runs until both directions ended and both streams are closed; returns how it ended. Never
  // throws for I/O.
  awaitable<splice_end> run();

  // Ends the splice politely from outside (another coroutine, a shutdown hook).
  void stop(std::string_view reason);

  const splice_counters& counters() const { return c_; }

 private:
  awaitable<void> pump(stream& from, stream& to, std::uint64_t& bytes, std::uint64_t& msgs, splice_buffer& buf,
                       clock::time_point& write_since);
  awaitable<void> watchdog();
  void begin_ending(splice_end e);
  void end_of(const stream& s, const error_code& ec);

  stream& a_;
  stream& b_;
  splice_options o_;
  splice_counters c_;
  splice_end end_;
  std::string close_reason_;  // what the ends are told in their close (WebSocket close frame)
  bool ending_ = false;
  int running_ = 0;
  clock::time_point last_activity_;
  clock::time_point write_since_ab_{}, write_since_ba_{};
  splice_buffer buf_ab_, buf_ba_;
  std::unique_ptr<net::steady_timer> timer_;
};

// Process-wide gauges for metrics and for tests that assert concurrency on a live counter.
struct splice_stats {
  static inline std::size_t live = 0;
  static inline std::uint64_t total = 0;
};

}  // namespace shadowlink
