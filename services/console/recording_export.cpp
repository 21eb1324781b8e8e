#include "services/console/recording_export.hpp"

#include "services/rfb/recording_replay.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace shadowlink::console {

namespace {

// Frame k shows the screen as it was at k/fps s of the recording: when an update completes, every
// frame due before its time shows the screen before it.
class frame_maker final : public rfb::replay_sink {
 public:
  frame_maker(frame_sink& sink, int fps, export_result& res) : sink_(sink), fps_(unsigned(fps)), res_(res) {}

  void resized(int w, int h) override {
    if (!canvas_.empty()) return;  // the video keeps the first size
    res_.width = w;
    res_.height = h;
    canvas_.assign(std::size_t(w) * h * 3, 0);
    sink_.start(w, h, int(fps_));
  }
  void painted(int, int, int, int) override {}
  void update_done(std::uint32_t ms, const rfb::replayed_screen& screen) override {
    frames_until(ms);
    // A screen that changed size mid-session is cut or padded with black to the video's size.
    const int w = std::min(res_.width, screen.width());
    for (int y = 0; y < std::min(res_.height, screen.height()); ++y) screen.rgb(0, y, w, 1, &canvas_[std::size_t(y) * res_.width * 3]);
  }

  void frames_until(std::uint64_t ms) {
    while (res_.frames * 1000 / fps_ < ms) {
      sink_.frame(canvas_);
      ++res_.frames;
    }
  }
  bool started() const { return !canvas_.empty(); }

 private:
  frame_sink& sink_;
  unsigned fps_;
  export_result& res_;
  std::vector<std::uint8_t> canvas_;
};

}  // namespace

export_result export_recording(const std::filesystem::path& screen, const std::filesystem::path& input, frame_sink& sink, int fps) {
  if (fps < 1 || fps > 60) throw std::runtime_error("--fps must be 1 to 60");
  export_result res;
  frame_maker frames(sink, fps, res);
  const auto replayed = rfb::replay_recording(screen, input, frames);
  if (!frames.started() || !replayed.anything) throw std::runtime_error("nothing in the recording could be decoded");
  res.duration_ms = replayed.duration_ms;
  res.stopped_early = replayed.stopped_early;
  // Up to the first frame at or after the recording's end: the last frame shows the last update
  // (the video runs at most one frame longer than the session).
  frames.frames_until(std::uint64_t(res.duration_ms) + 1000 / unsigned(fps));
  sink.finish();
  return res;
}

}  // namespace shadowlink::console
