#include "framework/journal.hpp"

#include "framework/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace shadowlink {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {
error_code last_error() { return error_code(errno, boost::system::system_category()); }

std::string line_of(json::object record) {
  json::object out;
  out["time"] = log::utc_now_iso();  // first, for people reading the file
  for (auto& [k, v] : record) out[k] = v;
  return json::serialize(out) + "\n";
}

// A completion handler of a coroutine, made callable from the journal's thread: the call is posted
// back to the handler's executor, whose io_context counts it as work until then.
template <class Handler, class... Args>
std::function<void(Args...)> from_thread(Handler handler) {
  auto h = std::make_shared<Handler>(std::move(handler));
  auto ex = net::prefer(net::get_associated_executor(*h), net::execution::outstanding_work.tracked);
  return [h, ex](Args... args) {
    net::post(ex, [h, args...]() mutable { std::move (*h)(std::move(args)...); });
  };
}
}  // namespace

journal::journal(journal_options o) : o_(std::move(o)), path_(o_.dir / (o_.name + ".jsonl")) {
  fs::create_directories(o_.dir);
  open_current();
  thread_ = std::thread([this] { run(); });
}

journal::~journal() {
  {
    std::lock_guard lk(m_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void journal::open_current() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path_.string() + ": " + std::strerror(errno));
  struct stat st{};
  ::fstat(fd_, &st);
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ == 0) return;
  // A record cut short (the process was killed mid-write) stays as it is; the next one starts on
  // a line of its own.
  int rd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  char last = '\n';
  if (rd >= 0) {
    if (::pread(rd, &last, 1, static_cast<off_t>(size_ - 1)) != 1) last = '\n';
    ::close(rd);
  }
  if (last != '\n' && ::write(fd_, "\n", 1) == 1) ++size_;
}

void journal::enqueue(item it) {
  {
    std::lock_guard lk(m_);
    queue_.push_back(std::move(it));
  }
  cv_.notify_one();
}

awaitable<void> journal::write(json::object record) {
  auto line = line_of(std::move(record));
  auto start = [this, &line](auto handler) {
    enqueue(item{std::move(line), true, from_thread<decltype(handler), error_code>(std::move(handler)), {}});
  };
  co_await net::async_initiate<decltype(use_awaitable), void(error_code)>(start, use_awaitable);
}

void journal::note(json::object record) { enqueue(item{line_of(std::move(record)), false, {}, {}}); }

awaitable<std::vector<json::object>> journal::read(std::function<bool(const json::object&)> keep, std::size_t limit) {
  auto start = [this, &keep, limit](auto handler) {
    auto done = from_thread<decltype(handler), error_code, std::vector<json::object>>(std::move(handler));
    item it;
    it.job = [this, keep = std::move(keep), limit, done] {
      std::vector<json::object> all;
      try {
        all = read_now(keep);
      } catch (const std::exception&) {
        done(make_error_code(boost::system::errc::io_error), {});  // the reader hears of it, never hangs
        return;
      }
      if (all.size() > limit) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(limit));
      done(error_code{}, std::move(all));
    };
    enqueue(std::move(it));
  };
  co_return co_await net::async_initiate<decltype(use_awaitable), void(error_code, std::vector<json::object>)>(start, use_awaitable);
}

awaitable<std::vector<std::string>> journal::lines_from(std::string since, std::size_t limit) {
  auto start = [this, &since, limit](auto handler) {
    auto done = from_thread<decltype(handler), error_code, std::vector<std::string>>(std::move(handler));
    item it;
    it.job = [this, since = std::move(since), limit, done] {
      std::vector<std::string> out;
      try {
        // A rotated file's name says when it was rotated: one rotated before `since` holds nothing later.
        auto stamp = since;
        std::replace(stamp.begin(), stamp.end(), ':', '-');
        for (auto& f : files_in_order()) {
          if (f != path_ && f.filename().string().substr(o_.name.size() + 1) < stamp) continue;
          std::ifstream in(f);
          for (std::string line; out.size() < limit && std::getline(in, line);) {
            error_code ec;
            auto v = json::parse(line, ec);
            if (ec || !v.is_object()) continue;  // a record cut short by a crash
            const auto* time = v.as_object().if_contains("time");
            if (time && time->is_string() && time->as_string() >= since) out.push_back(std::move(line));
          }
        }
      } catch (const std::exception&) {
        done(make_error_code(boost::system::errc::io_error), {});
        return;
      }
      done(error_code{}, std::move(out));
    };
    enqueue(std::move(it));
  };
  co_return co_await net::async_initiate<decltype(use_awaitable), void(error_code, std::vector<std::string>)>(start, use_awaitable);
}

std::vector<fs::path> journal::files_in_order() const {
  std::vector<fs::path> rotated;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(o_.dir, ec)) {
    auto n = e.path().filename().string();
    if (n.starts_with(o_.name + "-") && n.ends_with(".jsonl")) rotated.push_back(e.path());
  }
  std::sort(rotated.begin(), rotated.end());  // the names carry the rotation time, sortable
  rotated.push_back(path_);
  return rotated;
}

std::vector<json::object> journal::read_now(const std::function<bool(const json::object&)>& keep) const {
  std::vector<json::object> out;
  for (auto& f : files_in_order()) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      error_code ec;
      auto v = json::parse(line, ec);
      if (ec || !v.is_object()) continue;  // a record cut short by a crash
      if (keep(v.as_object())) out.push_back(std::move(v.as_object()));
    }
  }
  return out;
}

void journal::rotate_if_needed(std::size_t incoming, error_code& ec) {
  if (size_ == 0 || size_ + incoming <= o_.rotate_bytes) return;
  if (::fdatasync(fd_) != 0) {
    ec = last_error();
    return;
  }
  ::close(fd_);
  fd_ = -1;
  auto stamp = log::utc_now_iso();
  std::replace(stamp.begin(), stamp.end(), ':', '-');
  auto target = o_.dir / (o_.name + "-" + stamp + ".jsonl");
  for (int n = 2; fs::exists(target); ++n) target = o_.dir / (o_.name + "-" + stamp + "-" + std::to_string(n) + ".jsonl");
  if (::rename(path_.c_str(), target.c_str()) != 0) ec = last_error();
  reopen(ec);  // (after a failed rename: the same file again, and the error is reported)
}

// Opens the current file again after a rotation or a failure; on failure the journal stays
// without a file (and reports it) until a later write manages to open it.
void journal::reopen(error_code& ec) {
  try {
    open_current();
    if (int dir = ::open(o_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
      ::fsync(dir);  // the new file's name survives a power cut too
      ::close(dir);
    }
  } catch (const std::exception&) {
    fd_ = -1;
    if (!ec) ec = last_error();
  }
}

// Appends whole lines; a write cut short (a full disk) is taken back so that no partial record
// stays in the file, and reported.
void journal::write_lines(std::string& batch, error_code& ec) {
  if (fd_ < 0) reopen(ec);
  if (ec) return;
  rotate_if_needed(batch.size(), ec);
  if (ec || fd_ < 0) {
    if (!ec) ec = error_code(EBADF, boost::system::system_category());
    return;
  }
  std::size_t done = 0;
  while (done < batch.size()) {
    auto n = ::write(fd_, batch.data() + done, batch.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = n < 0 ? last_error() : error_code(ENOSPC, boost::system::system_category());
      if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) log::error("journal", "cannot take back a partial record in ", path_.string());
      return;
    }
    done += static_cast<std::size_t>(n);
  }
  size_ += batch.size();
}

void journal::run() {
  bool dirty = false;
  std::string unsynced;  // written for the tap, not yet synced
  auto last_sync = clock::now();
  for (;;) {
    std::deque<item> batch;
    bool stopping = false;
    std::function<void(std::string_view)> tap;
    {
      std::unique_lock lk(m_);
      cv_.wait_for(lk, o_.sync_interval, [&] { return !queue_.empty() || stopping_; });
      batch.swap(queue_);
      stopping = stopping_;
      tap = tap_;
    }
    std::string lines;
    std::vector<std::function<void(error_code)>> waiting;
    auto flush = [&](bool sync) {
      error_code ec;
      if (!lines.empty()) {
        write_lines(lines, ec);
        dirty = dirty || !ec;
        if (!ec && tap) unsynced += lines;
        lines.clear();
      }
      if (!ec && dirty && fd_ >= 0 && (sync || clock::now() - last_sync >= o_.sync_interval)) {
        if (::fdatasync(fd_) != 0) ec = last_error();
        dirty = false;
        last_sync = clock::now();
        // The tap hears of lines once they are on disk (what a session waited for).
        if (!ec && tap && !unsynced.empty()) tap(unsynced);
        unsynced.clear();
      }
      if (ec) log::error("journal", "cannot write ", path_.string(), ": ", ec.message());
      for (auto& w : waiting) w(ec);
      waiting.clear();
    };
    for (auto& it : batch) {
      if (it.job) {
        flush(!waiting.empty());
        it.job();  // a read sees everything queued before it (and reports its own failure)
        continue;
      }
      lines += it.line;
      if (it.durable) waiting.push_back(std::move(it.done));
    }
    flush(!waiting.empty() || stopping);
    if (stopping) {
      std::lock_guard lk(m_);
      if (queue_.empty()) break;
    }
  }
}

void journal::on_written(std::function<void(std::string_view)> tap) {
  std::lock_guard lk(m_);
  tap_ = std::move(tap);
}

}  // namespace shadowlink
