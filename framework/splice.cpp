#include "framework/splice.hpp"

#include "framework/errors.hpp"

#include <boost/asio/ssl/error.hpp>

namespace shadowlink {

std::string splice_end::words(std::string_view a_name, std::string_view b_name) const {
  const std::string end(by_a ? a_name : b_name);
  switch (how) {
    case kind::closed: return end + " closed";
    case kind::truncated: return end + " closed without TLS close_notify";
    case kind::reset: return end + " closed (connection reset)";  // (a viewer closed with screens unread does this too)
    case kind::failed: return end + " failed: " + detail;
    case kind::idle_timeout: return "idle timeout";
    case kind::write_timeout: return "write timeout";
    case kind::stopped: return detail.empty() ? "stopped" : detail;  // the reason says who stopped it
    case kind::cancelled: return "cancelled";
  }
  return "?";
}

splicer::splicer(stream& a, stream& b, splice_options o) : a_(a), b_(b), o_(o) {}

void splice_buffer::after_read(std::size_t n) {
  if (!big_) {
    if (n == small_.size()) big_ = std::make_unique_for_overwrite<char[]>(big_size);  // more is coming
    return;
  }
  small_reads_ = n <= small_.size() ? small_reads_ + 1 : 0;
  if (small_reads_ >= 8) {
    big_.reset();
    small_reads_ = 0;
  }
}

void splicer::begin_ending(splice_end e) {
  if (ending_) return;
  ending_ = true;
  end_ = std::move(e);
  close_reason_ = end_.words(o_.a_name, o_.b_name);
  if (end_.how == splice_end::kind::stopped) close_reason_ = end_.detail;
  a_.interrupt(close_reason_);
  b_.interrupt(close_reason_);
  if (timer_) timer_->cancel();  // the watchdog switches to the close deadline
}

void splicer::stop(std::string_view reason) { begin_ending({splice_end::kind::stopped, true, std::string(reason)}); }

// A stream's read or write ended with `ec`: a clean close, a close without close_notify, or a failure.
void splicer::end_of(const stream& s, const error_code& ec) {
  splice_end e;
  e.by_a = &s == &a_;
  if (ec == net::ssl::error::stream_truncated) e.how = splice_end::kind::truncated;
  else if (ec == net::error::connection_reset || ec == net::error::broken_pipe) e.how = splice_end::kind::reset;
  else if (!is_normal_end(ec)) {
    e.how = splice_end::kind::failed;
    e.detail = ec.message();
  }
  begin_ending(std::move(e));
}

awaitable<void> splicer::pump(stream& from, stream& to, std::uint64_t& bytes, std::uint64_t& msgs, splice_buffer& buf,
                             clock::time_point& write_since) {
  for (;;) {
    error_code ec;
    std::size_t n = co_await from.read_some(buf.space(), ec);
    if (n > 0) {
      // Deliver what was read even if the read also reported the end.
      c_.buffered += n;
      c_.max_buffered = std::max(c_.max_buffered, c_.buffered);
      last_activity_ = write_since = clock::now();
      error_code wec;
      co_await to.write(net::buffer(buf.data(), n), wec);
      write_since = {};
      c_.buffered -= n;
      buf.after_read(n);
      if (wec) {
        end_of(to, wec);
        break;
      }
      bytes += n;
      ++msgs;
      last_activity_ = clock::now();
    }
    if (ec || ending_) {
      end_of(from, ec);  // (ignored if the splice was already ending)
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
      begin_ending({splice_end::kind::idle_timeout, true, {}});
      continue;
    } else {
      auto stuck = [&](clock::time_point since) { return since != clock::time_point{} && now - since >= o_.write_timeout; };
      if (stuck(write_since_ab_) || stuck(write_since_ba_)) {
        begin_ending({splice_end::kind::write_timeout, true, {}});
        a_.abort();  // a blocked write can only be ended forcibly
        b_.abort();
        continue;
      }
    }
    timer_->expires_after(ending_ ? std::min<clock::duration>(tick, o_.close_deadline) : tick);
    co_await timer_->async_wait(use_tuple);
  }
}

awaitable<splice_end> splicer::run() {
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
    co_await (pump(a_, b_, c_.bytes_ab, c_.messages_ab, buf_ab_, write_since_ab_) &&
              pump(b_, a_, c_.bytes_ba, c_.messages_ba, buf_ba_, write_since_ba_) && watchdog());
  } catch (const system_error&) {
    // Terminal cancellation from the owner: fall through to the forcible close.
    begin_ending({splice_end::kind::cancelled, true, {}});
  }
  try {
    co_await (close_stream(a_, close_reason_, o_.close_deadline) && close_stream(b_, close_reason_, o_.close_deadline));
  } catch (const system_error&) {
  }
  a_.abort();
  b_.abort();
  co_return end_;
}

}  // namespace shadowlink
