#include "services/console/frame_sinks.hpp"

#include "services/console/png_writer.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace shadowlink::console {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

namespace {

// Frames piped to ffmpeg as raw RGB; ffmpeg encodes them as it reads, so memory stays at one frame.
class video_sink : public frame_sink {
 public:
  explicit video_sink(std::filesystem::path out) : out_(std::move(out)) {}
  ~video_sink() override {
    if (pipe_ >= 0) ::close(pipe_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
    std::error_code ignored;
    if (created_ && !finished_) std::filesystem::remove(out_, ignored);  // no half-written video left behind
  }

  void start(int width, int height, int fps) override {
    // Created only now that there is something to write (an export refused before leaves an
    // existing file alone), with mode 0600: ffmpeg truncates and keeps the mode of a file that exists.
    const int fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot write " + out_.string() + ": " + std::strerror(errno));
    created_ = true;
    ::fchmod(fd, 0600);
    ::close(fd);
    // yuv420p (what players expect of H.264) needs even sides: an odd screen gets a black edge.
    std::vector<std::string> argv{"ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                                  "-f", "rawvideo", "-pix_fmt", "rgb24",
                                  "-video_size", std::to_string(width) + "x" + std::to_string(height),
                                  "-framerate", std::to_string(fps), "-i", "pipe:0",
                                  "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast",
                                  "-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out_.string()};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot start ffmpeg: ") + std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, p[0], STDIN_FILENO);
    const int rc = ::posix_spawnp(&pid_, "ffmpeg", &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(p[0]);
    pipe_ = p[1];
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error(std::string("cannot start ffmpeg: ") + std::strerror(rc));
    }
  }

  void frame(std::span<const std::uint8_t> rgb) override {
    for (std::size_t done = 0; done < rgb.size();) {
      const auto n = ::write(pipe_, rgb.data() + done, rgb.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("ffmpeg stopped reading frames");
      done += static_cast<std::size_t>(n);
    }
    ++frames_;
  }

  void finish() override {
    ::close(pipe_);
    pipe_ = -1;
    const int status = reap();
    if (status != 0) throw std::runtime_error("ffmpeg failed (exit status " + std::to_string(status) + ") writing " + out_.string());
    finished_ = true;
  }

  std::string describe() const override {
    return out_.string() + " (H.264, " + std::to_string(frames_) + " frames)";
  }

 private:
  int reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  [[noreturn]] void fail(const std::string& what) {
    ::close(pipe_);
    pipe_ = -1;
    const int status = reap();
    throw std::runtime_error(what + " (exit status " + std::to_string(status) + ") writing " + out_.string());
  }

  std::filesystem::path out_;
  pid_t pid_ = -1;
  int pipe_ = -1;
  bool created_ = false, finished_ = false;
  std::uint64_t frames_ = 0;
};

class png_sink : public frame_sink {
 public:
  explicit png_sink(std::filesystem::path dir) : dir_(std::move(dir)) {
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create " + dir_.string() + ": " + std::strerror(errno));
  }
  void start(int width, int height, int) override {
    width_ = width;
    height_ = height;
  }
  void frame(std::span<const std::uint8_t> rgb) override {
    char name[32];
    std::snprintf(name, sizeof name, "frame-%06llu.png", static_cast<unsigned long long>(frames_));
    write_png((dir_ / name).string(), width_, height_, rgb);
    ++frames_;
  }
  void finish() override {}
  std::string describe() const override {
    return dir_.string() + "/frame-NNNNNN.png (" + std::to_string(frames_) + " PNG frames)";
  }

 private:
  std::filesystem::path dir_;
  int width_ = 0, height_ = 0;
  std::uint64_t frames_ = 0;
};

}  // namespace

std::unique_ptr<frame_sink> make_video_sink(std::filesystem::path out) { return std::make_unique<video_sink>(std::move(out)); }
std::unique_ptr<frame_sink> make_png_sink(std::filesystem::path dir) { return std::make_unique<png_sink>(std::move(dir)); }

}  // namespace shadowlink::console
