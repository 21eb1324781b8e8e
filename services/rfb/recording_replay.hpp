#pragma once
// A recorded session replayed: the recording's device-to-viewer stream (FBS 001.000,
// services/ums/recordings.hpp) is decoded by libvncclient as if it came live, negotiated as the
// recorded viewer negotiated it, and each complete update is reported at its recorded time (the
// recording's own timestamps, not the decoder's pace). The console's video export and the UMS's
// browser copy of a recording are both made from it.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace shadowlink::rfb {

class vnc_client;

// The replayed screen as it stands, read in RGB whatever pixel format (32-bit little-endian true
// colour) the recorded viewer asked for.
class replayed_screen {
 public:
  replayed_screen(const vnc_client& c, const std::array<std::uint8_t, 16>& format);
  int width() const;
  int height() const;
  // The w×h rectangle at (x, y), 3 bytes a pixel (R, G, B), row after row, into `out`.
  void rgb(int x, int y, int w, int h, std::uint8_t* out) const;

 private:
  const vnc_client& c_;
  unsigned max_[3];
  unsigned shift_[3];
};

class replay_sink {
 public:
  virtual ~replay_sink() = default;
  // The screen is w×h from now on (first at the start, again whenever the device's changes size).
  virtual void resized(int w, int h) = 0;
  // A rectangle of the screen has new pixels (CopyRect included); the update is not yet complete.
  virtual void painted(int x, int y, int w, int h) = 0;
  // An update is complete; it arrived `ms` after the session began. Throwing stops the replay
  // (the exception reaches replay_recording's caller).
  virtual void update_done(std::uint32_t ms, const replayed_screen& screen) = 0;
};

struct replay_result {
  std::uint32_t duration_ms = 0;  // the time of the recording's last block
  // Empty when the whole stream was decoded; else where and why decoding stopped (what came
  // before is reported all the same: a recording cut off by a stopped server is still worth
  // watching).
  std::string stopped_early;
  bool anything = false;  // whether any screen was decoded at all
};

// Decodes `screen` (ID.fbs) as the viewer of `input` (ID.input.fbs) negotiated it. Blocks
// (libvncclient does): call it off any event loop. Throws std::runtime_error if the files are not
// recordings or their pixels are not 32-bit little-endian true colour.
replay_result replay_recording(const std::filesystem::path& screen, const std::filesystem::path& input, replay_sink& sink);

}  // namespace shadowlink::rfb
