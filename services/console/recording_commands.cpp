// The console's commands on recorded sessions that read their files: fetch and export.
#include "framework/offload.hpp"
#include "framework/on_exit.hpp"
#include "services/console/commands.hpp"
#include "services/console/recording_export.hpp"

#include <boost/url/url.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>

namespace shadowlink::console {

namespace {

// Copies one of a recording's FBS files ("screen" or "input") to `name` (mode 0600: what the
// screen showed is as private here as on the server), piece by piece as the server hands them
// out; written to NAME.part and renamed when complete. Returns its size.
awaitable<std::uint64_t> fetch_file(client& c, const std::string& id, const char* which, const std::string& name) {
  const std::string part = name + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw cli_error("cannot write " + part + ": " + std::strerror(errno));
  on_exit closing([fd] { ::close(fd); });
  std::uint64_t offset = 0, total = 1;
  while (offset < total) {
    boost::urls::url target;
    target.set_path_absolute(true);
    target.segments() = {"api", "v1", "recordings", id, which};
    target.params().set("offset", std::to_string(offset));
    auto res = co_await c.call(http::verb::get, std::string(target.buffer()));
    if (res.result() != http::status::ok) throw cli_error("cannot fetch recording " + id + ": " + c.error_of(res));
    total = std::strtoull(std::string(res["X-Total-Length"]).c_str(), nullptr, 10);
    const auto& body = res.body();
    if (body.empty() && offset < total) throw cli_error("recording " + id + " ended early at byte " + std::to_string(offset));
    if (::write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size()))
      throw cli_error("cannot write " + part + ": " + std::strerror(errno));
    offset += body.size();
  }
  closing.run();
  if (std::rename(part.c_str(), name.c_str()) != 0) throw cli_error("cannot write " + name + ": " + std::strerror(errno));
  co_return offset;
}

}  // namespace

awaitable<int> cmd_fetch_recording(client& c, const options& o) {
  const auto& id = o.device;
  for (const char* which : {"screen", "input"}) {
    const std::string name = o.output + "/" + id + (std::string_view(which) == "screen" ? ".fbs" : ".input.fbs");
    const auto size = co_await fetch_file(c, id, which, name);
    std::printf("wrote %s (%llu bytes)\n", name.c_str(), static_cast<unsigned long long>(size));
  }
  co_return 0;
}

// recording export ID OUT: the recording is fetched into a private temporary directory, decoded
// on a thread of its own (libvncclient blocks), and encoded by ffmpeg — or written as PNG frames
// when ffmpeg is not installed or --frames asks for them.
awaitable<int> cmd_export_recording(client& c, const options& o) {
  const std::string& id = o.output;
  std::filesystem::path out = o.extra;
  const bool video = !o.frames && on_path("ffmpeg");
  if (!o.frames && !video) {
    out = out.parent_path() / (out.stem().string() + "-frames");
    std::cerr << "shadowlink: ffmpeg is not installed (Debian package ffmpeg): writing PNG frames to " << out.string()
              << " instead of a video\n";
  }
  const int fps = o.fps ? o.fps : video ? 10 : 2;
  if (fps < 1 || fps > 60) throw cli_error("--fps must be 1 to 60");
  std::string scratch = (std::filesystem::temp_directory_path() / "shadowlink-export-XXXXXX").string();
  if (!::mkdtemp(scratch.data())) throw cli_error("cannot make a temporary directory: " + std::string(std::strerror(errno)));
  on_exit remove_scratch([&] {
    std::error_code ignored;
    std::filesystem::remove_all(scratch, ignored);
  });
  const std::string screen = scratch + "/screen.fbs", input = scratch + "/input.fbs";
  co_await fetch_file(c, id, "screen", screen);
  co_await fetch_file(c, id, "input", input);

  net::thread_pool decoding(1);
  // (Named, not made inside the co_await expression: g++ 12 miscompiles such lambdas.)
  std::function<export_result()> decode = [&] {
    try {
      auto sink = video ? make_video_sink(out) : make_png_sink(out);
      auto r = export_recording(screen, input, *sink, fps);
      std::printf("exported recording %s: %dx%d, %.1f s, %llu frames at %d a second, to %s\n", id.c_str(), r.width, r.height,
                  r.duration_ms / 1000.0, static_cast<unsigned long long>(r.frames), fps, sink->describe().c_str());
      return r;
    } catch (const std::runtime_error& e) {
      throw cli_error("cannot export recording " + id + ": " + e.what());
    }
  };
  const auto res = co_await offload(decoding, std::move(decode));
  if (!res.stopped_early.empty()) std::cerr << "shadowlink: warning: recording " << id << ": " << res.stopped_early << "\n";
  co_return 0;
}

}  // namespace shadowlink::console
