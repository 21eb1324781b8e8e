#pragma once
// A recording's browser copy. The Web App's player is noVNC's RFB core, which shows only noVNC's
// own pixel format (32 bits, red in the lowest byte) and cannot decode ZRLE, TRLE, zlib or ultra:
// a session recorded for another viewer (TigerVNC's vncviewer, or a libvncclient viewer, through
// `shadowlink shadow`) is replayed once by libvncclient (services/rfb/recording_replay.hpp) and
// written again as noVNC reads it, at the same recorded times: an RFB 3.8 greeting without
// security and a ServerInit in noVNC's format (a block for each step: noVNC takes a step of the
// handshake per message), then each update's new rectangles as Tight
// rectangles (basic compression: zlib over 3 bytes a pixel, as noVNC decodes them) and a
// DesktopSize rectangle where the screen changed size.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>

namespace shadowlink::ums {

struct browser_copy_result {
  std::uint32_t duration_ms = 0;
  std::uint64_t bytes = 0;    // written to the copy, its header included
  std::string stopped_early;  // empty if the whole recording was copied; else why not (the copy
                              // then plays up to there)
};

// Writes the copy of the recording `screen` (ID.fbs) and `input` (ID.input.fbs) to `out` (FBS
// 001.000, header included), at most `max_bytes`; `progress` hears the recorded time of each update
// copied. Blocks. Throws std::runtime_error if the recording cannot be replayed or the copy cannot
// be written.
browser_copy_result write_browser_copy(const std::filesystem::path& screen, const std::filesystem::path& input, std::FILE* out,
                                       std::uint64_t max_bytes, const std::function<void(std::uint32_t ms)>& progress);

// `shadowlinkd browser-copy SCREEN INPUT MAX_BYTES`: the UMS makes a copy in a process of its
// own (libvncclient, a C library, decodes what a device sent: a crash or a runaway there must not
// take the sessions down). The copy goes to standard output; standard error carries a line
// "progress MS" per update, then "done BYTES [WHY IT ENDED EARLY]" or "error WHY".
int browser_copy_main(int argc, char** argv);

struct browser_copy_outcome {
  bool done = false;
  std::uint64_t bytes = 0;
  std::string message;  // why it failed, or why the copy ends early
};
// The UMS's side: runs `helper browser-copy` (the daemon's own binary) writing into `out`, and
// follows what it says. Blocks (on the thread that makes copies); a copy silent for a minute, or
// `stop` requested, is terminated.
browser_copy_outcome run_browser_copy(const std::filesystem::path& helper, const std::filesystem::path& screen,
                                      const std::filesystem::path& input, int out, std::uint64_t max_bytes,
                                      const std::function<void(std::uint32_t)>& progress, std::stop_token stop);

}  // namespace shadowlink::ums
