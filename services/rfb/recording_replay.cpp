#include "services/rfb/recording_replay.hpp"

#include "framework/on_exit.hpp"
#include "services/rfb/vnc_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace shadowlink::rfb {

namespace {

// A bound on one block: the UMS writes one block a relayed read, far smaller than this.
constexpr std::uint32_t max_block = 64u << 20;
// How much of the viewer's stream is searched for its pixel format: it comes right after the
// handshake, before any input.
constexpr std::size_t viewer_head = 64u << 10;

std::uint32_t big_endian32(const std::uint8_t* p) { return std::uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

// The blocks of an FBS 001.000 file, one at a time.
class fbs_reader {
 public:
  explicit fbs_reader(const std::filesystem::path& p) : name_(p.filename().string()), f_(std::fopen(p.c_str(), "rb")) {
    if (!f_) throw std::runtime_error("cannot read " + p.string() + ": " + std::strerror(errno));
    char header[12];
    if (std::fread(header, 1, sizeof header, f_) != sizeof header || std::memcmp(header, "FBS 001.000\n", 12) != 0)
      throw std::runtime_error(name_ + " is not an FBS 001.000 recording");
  }
  ~fbs_reader() { std::fclose(f_); }
  fbs_reader(const fbs_reader&) = delete;
  fbs_reader& operator=(const fbs_reader&) = delete;

  // The next block; false at the end of the file. A block cut off by the end is the end (a
  // recording stopped mid-write); a block longer than any the UMS writes is an error.
  bool next(std::vector<std::uint8_t>& data, std::uint32_t& ms) {
    std::uint8_t n[4];
    if (std::fread(n, 1, 4, f_) != 4) return false;
    const std::uint32_t length = big_endian32(n);
    if (length > max_block) throw std::runtime_error(name_ + ": a block of " + std::to_string(length) + " bytes (not a recording's)");
    const std::size_t padded = (length + 3u) & ~std::size_t{3};
    data.resize(padded);
    if (std::fread(data.data(), 1, padded, f_) != padded || std::fread(n, 1, 4, f_) != 4) return false;
    data.resize(length);
    ms = big_endian32(n);
    return true;
  }

 private:
  std::string name_;
  std::FILE* f_;
};

// What the recorded viewer negotiated, read from its stream (RFC 6143 §7.1–7.5): the version
// (12 bytes), the security type it chose (1 byte; VNC authentication adds its 16-byte answer),
// ClientInit (1 byte), then SetPixelFormat, SetEncodings and update requests before any input.
vnc_client::replay what_the_viewer_chose(const std::filesystem::path& input) {
  std::vector<std::uint8_t> s, block;
  std::uint32_t ms = 0;
  fbs_reader r(input);
  while (s.size() < viewer_head && r.next(block, ms)) s.insert(s.end(), block.begin(), block.end());
  if (s.size() < 14) throw std::runtime_error("the recording holds no viewer handshake");
  vnc_client::replay out;
  std::size_t i = 12;
  if (std::string(s.begin(), s.begin() + 12) != "RFB 003.003\n") {
    out.security = s[i];
    if (out.security != 1 && out.security != 2)
      throw std::runtime_error("the recorded viewer chose security type " + std::to_string(out.security) + ", which this export cannot follow");
    i += out.security == 2 ? 17 : 1;
  }
  ++i;  // ClientInit
  while (i < s.size()) {
    const auto type = s[i];
    if (type == 0 && i + 20 <= s.size()) {
      out.format.emplace();
      std::copy(s.begin() + i + 4, s.begin() + i + 20, out.format->begin());
      return out;
    }
    if (type == 2 && i + 4 <= s.size()) {
      i += 4 + 4 * std::size_t(s[i + 2] << 8 | s[i + 3]);
      continue;
    }
    if (type == 3) {
      i += 10;
      continue;
    }
    break;
  }
  return out;  // the viewer kept the server's pixel format
}

// Whether pixels in format `f` can be exported; throws if not.
void check_format(const vnc_client::pixel_format& f) {
  const bool maxima = (f[4] | f[5]) && (f[6] | f[7]) && (f[8] | f[9]);
  const bool shifts = f[10] < 32 && f[11] < 32 && f[12] < 32;
  if (f[0] != 32 || f[2] != 0 || f[3] == 0 || !maxima || !shifts)
    throw std::runtime_error("the recorded session's pixels are " + std::to_string(f[0]) + "-bit " + (f[2] ? "big-endian " : "") +
                             (f[3] ? "" : "colour-mapped ") + "ones: only 32-bit little-endian true colour is exported");
}

// What the feeding thread and the decoding thread share.
struct feed_state {
  std::mutex m;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ends;  // each block's end in the stream, and its time
  std::uint64_t fed = 0;                                       // bytes handed to the decoder's socket
  bool fed_all = false;
  std::string read_error;
};

// Feeds the stream's blocks into the socket as fast as the decoder takes them, and throws away
// what libvncclient sends (its update requests go nowhere in a replay). Never blocks while holding
// the lock, so the decoder can always ask how far it has got.
void feed(fbs_reader& r, int fd, feed_state& st, std::stop_token stop) {
  std::vector<std::uint8_t> block;
  std::uint32_t ms = 0;
  std::uint64_t planned = 0;
  char sink[4096];
  // However feeding ends, the decoder reads the end of the stream rather than wait for more.
  on_exit end_of_stream([fd] { ::shutdown(fd, SHUT_WR); });
  // False once the decoder has gone (its end closed) or the export is stopping.
  auto wait = [&](short events) {
    for (;;) {
      if (stop.stop_requested()) return short{0};
      pollfd p{fd, short(events | POLLIN), 0};
      if (::poll(&p, 1, 1000) < 0 && errno != EINTR) return short{0};
      if (p.revents & POLLIN) {
        const auto n = ::read(fd, sink, sizeof sink);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return short{0};
      }
      if (p.revents & (POLLHUP | POLLERR)) return short{0};
      if (p.revents & events) return p.revents;
    }
  };
  try {
    while (r.next(block, ms)) {
      {
        std::lock_guard lock(st.m);
        st.ends.emplace_back(planned += block.size(), ms);
      }
      for (std::size_t done = 0; done < block.size();) {
        if (!wait(POLLOUT)) return;
        std::lock_guard lock(st.m);
        const auto n = ::send(fd, block.data() + done, block.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return;
        if (n > 0) {
          done += std::size_t(n);
          st.fed += std::size_t(n);
        }
      }
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(st.m);
    st.read_error = e.what();
  }
  {
    std::lock_guard lock(st.m);
    st.fed_all = st.read_error.empty();
  }
  end_of_stream.run();
  while (wait(0)) {}  // the decoder goes on writing until it has gone
}

}  // namespace

replayed_screen::replayed_screen(const vnc_client& c, const std::array<std::uint8_t, 16>& f)
    : c_(c), max_{unsigned(f[4] << 8 | f[5]), unsigned(f[6] << 8 | f[7]), unsigned(f[8] << 8 | f[9])}, shift_{f[10], f[11], f[12]} {}

int replayed_screen::width() const { return c_.width(); }
int replayed_screen::height() const { return c_.height(); }

void replayed_screen::rgb(int x, int y, int w, int h, std::uint8_t* out) const {
  const auto& px = c_.pixels();
  const int cw = c_.width();
  for (int row = y; row < y + h; ++row)
    for (int col = x; col < x + w; ++col) {
      const auto* p = &px[(std::size_t(row) * cw + col) * 4];
      const std::uint32_t v = p[0] | p[1] << 8 | p[2] << 16 | std::uint32_t(p[3]) << 24;
      for (int c = 0; c < 3; ++c) *out++ = static_cast<std::uint8_t>(((v >> shift_[c]) & max_[c]) * 255 / max_[c]);
    }
}

replay_result replay_recording(const std::filesystem::path& screen, const std::filesystem::path& input, replay_sink& sink) {
  const auto as = what_the_viewer_chose(input);
  if (as.format) check_format(*as.format);  // before anything is started
  fbs_reader reader(screen);
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    throw std::runtime_error(std::string("cannot make a socket pair: ") + std::strerror(errno));
  const int theirs = pair[0], ours = pair[1];  // the decoder's end (vnc_client closes it), the feeder's
  on_exit close_ours([ours] { ::close(ours); });
  ::fcntl(ours, F_SETFL, ::fcntl(ours, F_GETFL) | O_NONBLOCK);
  feed_state st;

  vnc_client* rfb = nullptr;
  std::optional<replayed_screen> view;
  replay_result res;
  std::uint64_t consumed = 0;
  // Where the decoder is in the stream: what was fed less what it has not read or not handled.
  auto position = [&] {
    int pending = 0;
    std::lock_guard lock(st.m);
    ::ioctl(theirs, FIONREAD, &pending);
    consumed = st.fed - std::uint64_t(pending) - rfb->unread();
    auto at = std::lower_bound(st.ends.begin(), st.ends.end(), consumed, [](const auto& e, std::uint64_t c) { return e.first < c; });
    return at == st.ends.end() ? (st.ends.empty() ? 0u : st.ends.back().second) : at->second;
  };
  // The handlers run inside libvncclient's C frames, which no exception may cross: a failure
  // (ffmpeg gone, a full disk) is kept, and the stream shut so that decoding stops.
  std::exception_ptr failed;
  auto guarded = [&](auto&& work) {
    if (failed) return;
    try {
      work();
    } catch (...) {
      failed = std::current_exception();
      if (rfb) rfb->shut_down();
    }
  };
  vnc_client::handlers h{[&](int w, int hgt) { guarded([&] { sink.resized(w, hgt); }); },
                         [&] {
                           guarded([&] {
                             res.anything = true;
                             sink.update_done(position(), *view);
                           });
                         },
                         [&](int x, int y, int w, int hgt) { guarded([&] { sink.painted(x, y, w, hgt); }); }};

  std::jthread feeder([&](std::stop_token stop) { feed(reader, ours, st, std::move(stop)); });
  {
    vnc_client decoder(theirs, h, &as);
    if (failed) std::rethrow_exception(failed);
    check_format(decoder.format());
    view.emplace(decoder, decoder.format());
    rfb = &decoder;
    // The feeder always makes progress until the stream ends; a decoder that does not is stopped
    // rather than waited for.
    std::uint64_t last = 0;
    for (int idle = 0; idle < 30 && !failed && decoder.pump(1'000'000);) {
      position();
      idle = consumed == last ? idle + 1 : 0;
      last = consumed;
    }
    position();
    int pending = 0;
    ::ioctl(theirs, FIONREAD, &pending);
    std::lock_guard lock(st.m);
    if (!st.read_error.empty())
      res.stopped_early = st.read_error;
    else if (!st.fed_all || pending > 0 || decoder.unread() > 0)
      res.stopped_early = "decoding stopped at byte " + std::to_string(consumed) + " of the screen stream" +
                          (vnc_client::last_error().empty() ? "" : ": " + vnc_client::last_error());
    res.duration_ms = st.ends.empty() ? 0 : st.ends.back().second;
    view.reset();
    rfb = nullptr;
  }
  feeder.request_stop();
  feeder.join();
  if (failed) std::rethrow_exception(failed);
  return res;
}

}  // namespace shadowlink::rfb
