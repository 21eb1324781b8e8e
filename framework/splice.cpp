#include "framework/splice.hpp"

namespace shadowlink {

splicer::splicer(stream& a, stream& b, splice_options o)
    : a_(a), b_(b), o_(o), buf_ab_(std::make_unique<std::array<char, buffer_size>>()),
      buf_ba_(std::make_unique<std::array<char, buffer_size>>()) {}

void splicer::begin_ending(std::string reason) {
  if (ending_) return;
  ending_ = true;
  reason_ = std::move(reason);
  a_.interrupt(reason_);
  b_.interrupt(reason_);
  if (timer_) timer_->cancel();  // the watchdog switches to the close deadline
}

void splicer::stop(std::string_view reason) { begin_ending("stopped: " + std::string(reason)); }

awaitable<void> splicer::pump(stream& from, stream& to, std::uint64_t& bytes, std::uint64_t& msgs,
                             std::array<char, buffer_size>& buf, clock::time_point& write_since) {
  const char* name = &from == &a_ ? "a closed" : "b closed";
  for (;;) {
    error_code ec;
    std::size_t n = co_await from.read_some(net::buffer(buf), ec);
    if (n > 0) {
      // Deliver what was read even if the read also reported the end.
      c_.buffered += n;
      c_.max_buffered = std::max(c_.max_buffered, c_.buffered);
      last_activity_ = write_since = clock::now();
      error_code wec;
      co_await to.write(net::buffer(buf.data(), n), wec);
      write_since = {};
      c_.buffered -= n;
      if (wec) {
        begin_ending(&to == &a_ ? "a closed" : "b closed");
        break;
      }
      bytes += n;
      ++msgs;
      last_activity_ = clock::now();
    }
    if (ec || ending_) {
      begin_ending(name);
      break;
    }
  }
  if (--running_ == 0 && timer_) timer_->cancel();
}

awaitable<void> splicer::watchdog() {
  // Polls at a coarse interval instead of re-arming a timer per message: keeps the hot path free of timer work.
  const auto tick = std::min<clock::duration>({o_.idle_timeout / 4, o_.write_timeout / 4, 1s});
  clock::time_point ending_deadline{};
  while (running_ > 0) {
    auto now = clock::now();
    if (ending_) {
      if (ending_deadline == clock::time_point{}) ending_deadline = now + o_.close_deadline;
      if (now >= ending_deadline) {
        a_.abort();
        b_.abort();
      }
    } else if (now - last_activity_ >= o_.idle_timeout) {
      begin_ending("idle timeout");
      continue;
    } else {
      auto stuck = [&](clock::time_point since) { return since != clock::time_point{} && now - since >= o_.write_timeout; };
      if (stuck(write_since_ab_) || stuck(write_since_ba_)) {
        begin_ending("write timeout");
        a_.abort();  // a blocked write can only be ended forcibly
        b_.abort();
        continue;
      }
    }
    timer_->expires_after(ending_ ? std::min<clock::duration>(tick, o_.close_deadline) : tick);
    co_await timer_->async_wait(use_tuple);
  }
}

awaitable<std::string> splicer::run() {
  using namespace net::experimental::awaitable_operators;
  auto ex = co_await net::this_coro::executor;
  timer_ = std::make_unique<net::steady_timer>(ex);
  last_activity_ = clock::now();
  running_ = 2;
  ++splice_stats::live;
  ++splice_stats::total;
  struct live_guard {
    ~live_guard() { --splice_stats::live; }
  } guard;
  try {
    co_await (pump(a_, b_, c_.bytes_ab, c_.messages_ab, *buf_ab_, write_since_ab_) &&
              pump(b_, a_, c_.bytes_ba, c_.messages_ba, *buf_ba_, write_since_ba_) && watchdog());
  } catch (const system_error&) {
    // Terminal cancellation from the owner: fall through to the forcible close.
    begin_ending("cancelled");
  }
  try {
    co_await (close_stream(a_, reason_, o_.close_deadline) && close_stream(b_, reason_, o_.close_deadline));
  } catch (const system_error&) {
  }
  a_.abort();
  b_.abort();
  co_return reason_;
}

}  // namespace shadowlink
