#pragma once
// Where an exported recording's frames go: a video encoded by Debian's ffmpeg (H.264 in MP4), or,
// where ffmpeg is not installed, one PNG a frame in a directory.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace shadowlink::console {

class frame_sink {
 public:
  virtual ~frame_sink() = default;
  // Before the first frame: every frame has this size, 3 bytes a pixel (R, G, B).
  virtual void start(int width, int height, int fps) = 0;
  virtual void frame(std::span<const std::uint8_t> rgb) = 0;
  // After the last frame; throws std::runtime_error if the output is not complete.
  virtual void finish() = 0;
  virtual std::string describe() const = 0;  // what was written, for the administrator
};

// Whether `program` is an executable file in a directory of PATH.
bool on_path(const std::string& program);

// `out` is made readable by its owner only (what the screen showed is as private here as on the
// server). Both throw std::runtime_error naming what failed.
std::unique_ptr<frame_sink> make_video_sink(std::filesystem::path out);
std::unique_ptr<frame_sink> make_png_sink(std::filesystem::path dir);

}  // namespace shadowlink::console
