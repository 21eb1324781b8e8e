#pragma once
// A recorded session rendered as frames: the recording's device-to-viewer stream (FBS 001.000,
// services/ums/recordings.hpp) is decoded by libvncclient as if it came live, and the screen is
// sampled at a fixed rate of media time (the recording's own timestamps, not the decoder's pace).
#include "services/console/frame_sinks.hpp"

#include <cstdint>
#include <filesystem>
#include <string>

namespace shadowlink::console {

struct export_result {
  int width = 0, height = 0;
  std::uint64_t frames = 0;
  std::uint32_t duration_ms = 0;
  // Empty when the whole stream was decoded; else where and why decoding stopped (the frames up
  // to there are written all the same: a recording cut off by a stopped server is still worth
  // watching).
  std::string stopped_early;
};

// Decodes `screen` (ID.fbs) as the viewer of `input` (ID.input.fbs) negotiated it, and gives
// `sink` one frame every 1/fps s of the recording. Blocks (libvncclient does): call it off the
// event loop. Throws std::runtime_error if the files are not recordings or nothing can be
// decoded.
export_result export_recording(const std::filesystem::path& screen, const std::filesystem::path& input, frame_sink& sink, int fps);

}  // namespace shadowlink::console
