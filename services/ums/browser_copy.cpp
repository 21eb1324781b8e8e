#include "services/ums/browser_copy.hpp"

#include "framework/child_process.hpp"
#include "framework/on_exit.hpp"
#include "services/rfb/recording_replay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

namespace shadowlink::ums {

namespace {

// noVNC's pixel format (RFC 6143 §7.4): 32 bits, depth 24, little-endian, true colour, 255 a
// channel, red in the lowest byte.
constexpr std::uint8_t novnc_format[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0};
constexpr std::int32_t tight = 7, desktop_size = -223;
// A Tight rectangle's compressed length is at most 22 bits: tiles of at most 2^18 pixels (768 KiB
// before compression) stay far below it however badly they compress.
constexpr int tile_pixels = 1 << 18;
// An update with more rectangles than this is sent as their bounding box.
constexpr std::size_t max_rects = 64;
// The copier process's address space (its framebuffer, zlib's and the C library's own).
[[maybe_unused]] constexpr rlim_t copy_memory_limit = rlim_t{2} << 30;

struct size_limit : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void put16(std::vector<std::uint8_t>& v, unsigned x) {
  v.push_back(std::uint8_t(x >> 8));
  v.push_back(std::uint8_t(x));
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, x >> 16);
  put16(v, x & 0xffff);
}

struct rect {
  int x, y, w, h;
};

class tight_writer final : public rfb::replay_sink {
 public:
  tight_writer(std::FILE* out, std::uint64_t max_bytes, const std::function<void(std::uint32_t)>& progress)
      : out_(out), max_(max_bytes), progress_(progress) {
    // Level 1: the copy is made on the server, once, and most screens compress well at any level.
    if (deflateInit(&z_, 1) != Z_OK) throw std::runtime_error("zlib cannot start");
    write(reinterpret_cast<const std::uint8_t*>("FBS 001.000\n"), 12);
  }
  ~tight_writer() override { deflateEnd(&z_); }
  tight_writer(const tight_writer&) = delete;
  tight_writer& operator=(const tight_writer&) = delete;

  void resized(int w, int h) override {
    if (!greeted_) {
      greet(w, h);
      greeted_ = true;
    } else {
      resize_ = rect{0, 0, w, h};
    }
  }

  void painted(int x, int y, int w, int h) override {
    rects_.push_back(rect{x, y, w, h});
    if (rects_.size() <= max_rects) return;
    rect box = rects_.front();
    for (auto& r : rects_) {
      const int right = std::max(box.x + box.w, r.x + r.w), bottom = std::max(box.y + box.h, r.y + r.h);
      box.x = std::min(box.x, r.x);
      box.y = std::min(box.y, r.y);
      box.w = right - box.x;
      box.h = bottom - box.y;
    }
    rects_.assign(1, box);
  }

  void update_done(std::uint32_t ms, const rfb::replayed_screen& screen) override {
    msg_.assign({0, 0, 0, 0});  // FramebufferUpdate; the count is filled in below
    unsigned count = 0;
    if (resize_) {
      header(*resize_, desktop_size);
      ++count;
      resize_.reset();
    }
    for (auto r : rects_) {
      // What libvncclient painted lies on its framebuffer, but clip all the same.
      r.w = std::min(r.x + r.w, screen.width()) - r.x;
      r.h = std::min(r.y + r.h, screen.height()) - r.y;
      if (r.x < 0 || r.y < 0 || r.w <= 0 || r.h <= 0) continue;
      const int rows = std::max(1, tile_pixels / r.w);
      for (int y = r.y; y < r.y + r.h; y += rows, ++count) tile(screen, rect{r.x, y, r.w, std::min(rows, r.y + r.h - y)});
    }
    rects_.clear();
    if (count == 0) return;
    msg_[2] = std::uint8_t(count >> 8);
    msg_[3] = std::uint8_t(count);
    block(ms);
    if (progress_) progress_(ms);
  }

  std::uint64_t bytes() const { return written_; }

 private:
  // noVNC takes one step of the handshake per message it receives: each step is a block of its own.
  void greet(int w, int h) {
    const char version[] = "RFB 003.008\n";
    msg_.assign(version, version + 12);
    block(0);
    msg_.assign({1, 1});  // one security type: None
    block(0);
    msg_.assign({0, 0, 0, 0});  // SecurityResult: OK
    block(0);
    msg_.clear();  // ServerInit
    put16(msg_, unsigned(w));
    put16(msg_, unsigned(h));
    msg_.insert(msg_.end(), std::begin(novnc_format), std::end(novnc_format));
    const std::string name = "recorded session";
    put32(msg_, std::uint32_t(name.size()));
    msg_.insert(msg_.end(), name.begin(), name.end());
    block(0);
  }

  void header(const rect& r, std::int32_t encoding) {
    put16(msg_, unsigned(r.x));
    put16(msg_, unsigned(r.y));
    put16(msg_, unsigned(r.w));
    put16(msg_, unsigned(r.h));
    put32(msg_, std::uint32_t(encoding));
  }

  // One Tight rectangle, basic compression on zlib stream 0 with the copy filter (RFC 6143's
  // Tight extension as noVNC reads it: 3 bytes a pixel for a 24-bit depth; under 12 bytes, raw).
  void tile(const rfb::replayed_screen& screen, const rect& r) {
    header(r, tight);
    msg_.push_back(0x00);
    rgb_.resize(std::size_t(r.w) * r.h * 3);
    screen.rgb(r.x, r.y, r.w, r.h, rgb_.data());
    if (rgb_.size() < 12) {
      msg_.insert(msg_.end(), rgb_.begin(), rgb_.end());
      return;
    }
    packed_.clear();
    z_.next_in = rgb_.data();
    z_.avail_in = unsigned(rgb_.size());
    std::uint8_t chunk[1 << 16];
    do {
      z_.next_out = chunk;
      z_.avail_out = sizeof chunk;
      if (deflate(&z_, Z_SYNC_FLUSH) == Z_STREAM_ERROR) throw std::runtime_error("zlib failed");
      packed_.insert(packed_.end(), chunk, chunk + (sizeof chunk - z_.avail_out));
    } while (z_.avail_out == 0);
    const std::size_t n = packed_.size();
    msg_.push_back(std::uint8_t((n & 0x7f) | (n > 0x7f ? 0x80 : 0)));
    if (n > 0x7f) msg_.push_back(std::uint8_t(((n >> 7) & 0x7f) | (n > 0x3fff ? 0x80 : 0)));
    if (n > 0x3fff) msg_.push_back(std::uint8_t(n >> 14));
    msg_.insert(msg_.end(), packed_.begin(), packed_.end());
  }

  // msg_ as one FBS block: [length][data, zero-padded to 4][ms].
  void block(std::uint32_t ms) {
    const std::size_t padded = (msg_.size() + 3) & ~std::size_t{3};
    if (written_ + 8 + padded > max_) throw size_limit("the copy reached its size limit of " + std::to_string(max_ >> 20) + " MiB");
    std::vector<std::uint8_t> head;
    put32(head, std::uint32_t(msg_.size()));
    write(head.data(), 4);
    msg_.resize(padded, 0);
    write(msg_.data(), msg_.size());
    head.clear();
    put32(head, ms);
    write(head.data(), 4);
  }

  void write(const std::uint8_t* p, std::size_t n) {
    if (std::fwrite(p, 1, n, out_) != n) throw std::runtime_error(std::string("cannot write the copy: ") + std::strerror(errno));
    written_ += n;
  }

  std::FILE* out_;
  std::uint64_t max_;
  const std::function<void(std::uint32_t)>& progress_;
  z_stream z_{};
  bool greeted_ = false;
  std::optional<rect> resize_;
  std::vector<rect> rects_;
  std::vector<std::uint8_t> msg_, rgb_, packed_;
  std::uint64_t written_ = 0;
};

}  // namespace

browser_copy_result write_browser_copy(const std::filesystem::path& screen, const std::filesystem::path& input, std::FILE* out,
                                       std::uint64_t max_bytes, const std::function<void(std::uint32_t)>& progress) {
  tight_writer copy(out, max_bytes, progress);
  browser_copy_result res;
  try {
    const auto replayed = rfb::replay_recording(screen, input, copy);
    res.duration_ms = replayed.duration_ms;
    res.stopped_early = replayed.stopped_early;
  } catch (const size_limit& e) {
    res.stopped_early = e.what();
  }
  if (copy.bytes() <= 12) throw std::runtime_error("nothing in the recording could be decoded");
  if (std::fflush(out) != 0) throw std::runtime_error(std::string("cannot write the copy: ") + std::strerror(errno));
  res.bytes = copy.bytes();
  return res;
}

namespace {
// A message on one line of the outcome protocol (and fit for an HTTP header): no control characters.
std::string one_line(std::string s) {
  std::replace_if(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }, ' ');
  return s;
}
}  // namespace

int browser_copy_main(int argc, char** argv) {
  std::uint64_t max_bytes = 0;
  const std::string_view max = argc == 4 ? argv[3] : "";
  if (argc != 4 || std::from_chars(max.data(), max.data() + max.size(), max_bytes).ptr != max.data() + max.size() || max_bytes == 0) {
    std::fprintf(stderr, "error usage: shadowlinkd browser-copy SCREEN INPUT MAX_BYTES (run by the UMS)\n");
    return 2;
  }
  // A bound on what a crafted stream can make the copy take: the largest screen libvncclient
  // accepts here is 256 MiB. (Not under AddressSanitizer, which reserves terabytes of address space.)
#if !defined(__SANITIZE_ADDRESS__)
  const rlimit memory{copy_memory_limit, copy_memory_limit};
  if (::setrlimit(RLIMIT_AS, &memory) != 0) {
    std::fprintf(stderr, "error cannot bound the copy's memory: %s\n", std::strerror(errno));
    return 1;
  }
#endif
  try {
    const std::function<void(std::uint32_t)> progress = [](std::uint32_t ms) {
      std::fprintf(stderr, "progress %u\n", ms);
      std::fflush(stderr);
    };
    const auto made = write_browser_copy(argv[1], argv[2], stdout, max_bytes, progress);
    std::fprintf(stderr, "done %llu %s\n", static_cast<unsigned long long>(made.bytes), one_line(made.stopped_early).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error %s\n", one_line(e.what()).c_str());
    return 1;
  }
}

browser_copy_outcome run_browser_copy(const std::filesystem::path& helper, const std::filesystem::path& screen,
                                      const std::filesystem::path& input, int out, std::uint64_t max_bytes,
                                      const std::function<void(std::uint32_t)>& progress, std::stop_token stop) {
  int said[2];
  if (::pipe2(said, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot make a pipe: ") + std::strerror(errno));
  on_exit close_ours([&] { ::close(said[0]); });
  std::optional<child_process> child;
  try {
    child.emplace(std::vector<std::string>{helper.string(), "browser-copy", screen.string(), input.string(), std::to_string(max_bytes)},
                  std::map<std::string, std::string>{}, std::vector<std::pair<int, int>>{{out, 1}, {said[1], 2}});
  } catch (...) {
    ::close(said[1]);
    throw;
  }
  ::close(said[1]);
  // Each update reports within moments; a replay that has said nothing for a minute is stuck.
  constexpr int quiet_limit_ms = 60'000;
  std::string pending, last, why;
  char buf[4096];
  // (Until its output ends: then it is exiting, and is reaped below without this callback.)
  for (std::stop_callback stopping(stop, [&] { child->terminate(); });;) {
    pollfd p{said[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, quiet_limit_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      why = "the copy made no progress for a minute";
      child->terminate();
      break;
    }
    const auto n = ::read(said[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, std::size_t(n));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      auto line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      std::uint32_t ms = 0;
      if (line.starts_with("progress ") && std::from_chars(line.data() + 9, line.data() + line.size(), ms).ec == std::errc())
        progress(ms);
      else
        last = std::move(line);
    }
    if (pending.size() > sizeof buf) pending.clear();  // a line longer than any it writes
  }
  std::optional<int> code;
  for (int i = 0; i < 500 && !(code = child->exited()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  browser_copy_outcome o;
  if (stop.stop_requested()) {
    o.message = "the server is stopping";
  } else if (!why.empty()) {
    o.message = why;
  } else if (code == 0 && last.starts_with("done ")) {
    const auto* end = last.data() + last.size();
    const auto parsed = std::from_chars(last.data() + 5, end, o.bytes);
    o.done = parsed.ec == std::errc();
    o.message = parsed.ptr < end ? std::string(parsed.ptr + 1, end) : "";
  } else if (last.starts_with("error ")) {
    o.message = last.substr(6);
  } else {
    o.message = code ? "the copy's process ended with status " + std::to_string(*code) : "the copy's process did not end";
  }
  return o;  // (a child still running is terminated and reaped by child_process's destructor)
}

}  // namespace shadowlink::ums
