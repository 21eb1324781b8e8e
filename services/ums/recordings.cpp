#include "services/ums/recordings.hpp"


#include "framework/log.hpp"
#include "framework/offload.hpp"
#include "services/ums/browser_copy.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

namespace shadowlink::ums {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr char fbs_header[] = "FBS 001.000\n";

void put_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// A new file only the service user can read: O_EXCL, so a recording never overwrites another.
std::FILE* create_private(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw system_error(error_code(errno, boost::system::system_category()), "create " + path.string());
  std::FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    ::close(fd);
    throw system_error(error_code(ENOMEM, boost::system::system_category()), "open " + path.string());
  }
  return f;
}

std::string mib(std::uint64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

// A file's size, 0 if it is gone.
std::uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

// What ID.json says (an empty object if it cannot be read).
json::object description_of(const fs::path& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  json::error_code jec;
  auto v = json::parse(text, jec);
  return jec || !v.is_object() ? json::object{} : std::move(v.as_object());
}

}  // namespace

recording::recording(recording_store& store, std::string id, std::string device, std::string user)
    : store_(store), id_(std::move(id)), device_(std::move(device)), user_(std::move(user)), started_at_(log::utc_now_iso()) {}

recording::~recording() {
  if (screen_) std::fclose(screen_);
  if (input_) std::fclose(input_);
}

void recording::add(direction d, const std::uint8_t* data, std::size_t n) {
  if (n == 0 || finished_) return;
  {
    std::lock_guard lock(m_);
    if (!stopped_.empty()) return;
  }
  const std::uint64_t framed = n + 8 + 3;
  if (accepted_ + framed > store_.limits_.per_session) {
    stop("size limit of " + mib(store_.limits_.per_session) + " reached");
    return;
  }
  if (queued_ + framed > store_.limits_.queue) {
    stop("the disk did not keep up (" + mib(queued_) + " waiting)");
    return;
  }
  accepted_ += framed;
  queued_ += framed;
  const auto ms = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start_).count());
  std::vector<std::uint8_t> copy(data, data + n);
  net::post(store_.writer_, [self = shared_from_this(), d, ms, copy = std::move(copy), framed] {
    self->write_block(d == direction::to_viewer ? self->screen_ : self->input_, copy.data(), copy.size(), ms);
    self->queued_ -= framed;
  });
}

void recording::write_block(std::FILE* f, const std::uint8_t* p, std::size_t n, std::uint32_t ms) {
  // What was accepted before a stop is still written; after a failed write nothing is.
  if (write_failed_ || !f) return;
  std::uint8_t head[4], tail[4];
  static constexpr std::uint8_t pad[3]{};
  put_be32(head, static_cast<std::uint32_t>(n));
  put_be32(tail, ms);
  const std::size_t padding = (4 - n % 4) % 4;
  errno = 0;
  const bool ok = std::fwrite(head, 1, 4, f) == 4 && std::fwrite(p, 1, n, f) == n && std::fwrite(pad, 1, padding, f) == padding &&
                  std::fwrite(tail, 1, 4, f) == 4;
  if (!ok) {
    write_failed_ = true;
    stop(errno == ENOSPC ? "disk full" : std::string("cannot write: ") + std::strerror(errno));
  }
}

void recording::stop(std::string why) {
  std::lock_guard lock(m_);
  if (!stopped_.empty()) return;
  stopped_ = std::move(why);
  // Logged where it happens (the event loop's logger is one line per call, safe from any thread).
  log::warn(store_.scope_, "recording ", id_, " stopped, the session goes on: ", stopped_);
}

std::string recording::state() const {
  std::lock_guard lock(m_);
  if (!stopped_.empty()) return stopped_;
  return finished_ ? "complete" : "recording";
}

void recording::finish() {
  if (finished_) return;
  finished_ = true;
  store_.live_.erase(id_);
  net::post(store_.writer_, [self = shared_from_this()] {
    for (auto* f : {self->screen_, self->input_})
      if (f && (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0)) {
        self->write_failed_ = true;
        self->stop(errno == ENOSPC ? "disk full" : std::string("cannot write: ") + std::strerror(errno));
      }
    self->store_.describe(*self, true);
  });
}

recording_store::recording_store(fs::path dir, recording_limits limits, std::string log_scope)
    : dir_(std::move(dir)), limits_(limits), scope_(std::move(log_scope)) {
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
  close_interrupted();
}

// Recordings a stopped or killed server left "recording": they end where their files end.
void recording_store::close_interrupted() {
  std::error_code ec;
  for (auto& f : fs::directory_iterator(dir_, ec)) {
    if (f.path().extension() == ".part" && f.path().stem().extension() == ".fbs") fs::remove(f.path(), ec);  // a browser copy cut off
    if (f.path().extension() != ".json") continue;
    auto o = description_of(f.path());
    if (o.if_contains("state") == nullptr || o["state"] != "recording") continue;
    const auto id = f.path().stem().string();
    o["state"] = "cut off when the server stopped";
    o["bytes"] = size_of(dir_ / (id + ".fbs")) + size_of(dir_ / (id + ".input.fbs"));
    std::ofstream out(f.path(), std::ios::trunc);
    out << json::serialize(o) << "\n";
    log::warn(scope_, "recording ", id, " was cut off when the server stopped");
  }
}

recording_store::~recording_store() {
  stopping_.request_stop();  // a browser copy being made stops at its next update
  copier_.join();
  writer_.join();
}

std::shared_ptr<recording> recording_store::start(const std::string& session_id, const std::string& device, const std::string& user) {
  make_room();
  auto r = std::make_shared<recording>(*this, session_id, device, user);
  r->screen_ = create_private(dir_ / (session_id + ".fbs"));
  r->input_ = create_private(dir_ / (session_id + ".input.fbs"));
  // The headers go through the queue like everything else: nothing here waits for the disk.
  const auto header = reinterpret_cast<const std::uint8_t*>(fbs_header);
  net::post(writer_, [r, header] {
    for (auto* f : {r->screen_, r->input_})
      if (std::fwrite(header, 1, sizeof fbs_header - 1, f) != sizeof fbs_header - 1) {
        r->write_failed_ = true;
        r->stop(errno == ENOSPC ? "disk full" : "cannot write the header");
      }
    r->store_.describe(*r, false);
  });
  r->accepted_ = 2 * (sizeof fbs_header - 1);
  live_.insert(session_id);
  log::info(scope_, "recording session ", session_id, " of ", device, " to ", (dir_ / (session_id + ".fbs")).string());
  return r;
}

// What the recording is of, beside it: written when it starts and again when it ends.
void recording_store::describe(const recording& r, bool done) {
  json::object o{{"session", r.id_},       {"device", r.device_},       {"user", r.user_},
                 {"started", r.started_at_}, {"format", "FBS 001.000"}, {"screen", r.id_ + ".fbs"},
                 {"input", r.id_ + ".input.fbs"}};
  if (done) {
    o["ended"] = log::utc_now_iso();
    o["state"] = r.state();
    o["bytes"] = size_of(dir_ / (r.id_ + ".fbs")) + size_of(dir_ / (r.id_ + ".input.fbs"));
  } else {
    o["state"] = "recording";
  }
  const auto path = dir_ / (r.id_ + ".json");
  const auto tmp = dir_ / (r.id_ + ".json.part");
  std::FILE* f = nullptr;
  try {
    fs::remove(tmp);
    f = create_private(tmp);
  } catch (const std::exception& e) {
    log::warn(scope_, "recording ", r.id_, ": cannot describe it: ", e.what());
    return;
  }
  const auto text = json::serialize(o) + "\n";
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) {
    log::warn(scope_, "recording ", r.id_, ": cannot describe it: ", std::strerror(errno));
    return;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
}

// Removes the oldest finished recordings while what is on disk (the recordings being written
// included, at their present size) and room for one more recording would pass the total limit.
// (Recordings being written may still grow: the total is kept at each start, not at every byte.)
void recording_store::make_room() {
  struct entry {
    fs::file_time_type oldest = fs::file_time_type::max();
    std::uint64_t bytes = 0;
    std::vector<fs::path> files;
  };
  std::map<std::string, entry> found;
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto& f : fs::directory_iterator(dir_, ec)) {
    if (!f.is_regular_file(ec)) continue;
    const auto name = f.path().filename().string();
    const auto id = name.substr(0, name.find('.'));
    auto& e = found[id];
    const auto size = f.file_size(ec);
    if (ec) continue;  // gone meanwhile (a description renamed into place)
    const auto when = f.last_write_time(ec);
    if (ec) continue;
    e.bytes += size;
    total += size;
    e.oldest = std::min(e.oldest, when);
    e.files.push_back(f.path());
  }
  std::vector<std::pair<fs::file_time_type, std::string>> by_age;
  for (auto& [id, e] : found)
    if (!live_.contains(id)) by_age.emplace_back(e.oldest, id);
  std::sort(by_age.begin(), by_age.end());
  const auto wanted = [&] { return total + limits_.per_session; };
  for (auto& [when, id] : by_age) {
    if (wanted() <= limits_.total) break;
    auto& e = found[id];
    for (auto& p : e.files) fs::remove(p, ec);
    total -= e.bytes;
    log::warn(scope_, "recording ", id, " removed (", mib(e.bytes), "): the recordings' total limit is ", mib(limits_.total));
  }
}

awaitable<http_response> recording_store::answer(const http_request& req) {
  co_return co_await offload<http_response>(writer_, [this, &req] { return answer_now(req); });
}

namespace {

// Up to a chunk of the file at `path` from `offset`, with the file's size.
http_response piece_of(const http_request& req, const fs::path& path, std::uint64_t offset, std::uint64_t chunk) {
  std::error_code ec;
  std::ifstream in(path, std::ios::binary);
  if (!in) return error_response(req, http::status::not_found, "no such recording");
  const auto size = fs::file_size(path, ec);
  if (ec || offset > size) return error_response(req, http::status::range_not_satisfiable, "offset beyond the recording's end");
  std::string body(std::min<std::uint64_t>(chunk, size - offset), '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(body.data(), static_cast<std::streamsize>(body.size()));
  body.resize(static_cast<std::size_t>(in.gcount()));
  auto res = json_response(req, http::status::ok, std::move(body));
  res.set(http::field::content_type, "application/octet-stream");
  res.set("X-Total-Length", std::to_string(size));
  return res;
}

}  // namespace

http_response recording_store::answer_now(const http_request& req) {
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) return error_response(req, http::status::bad_request, "bad request target");
  std::vector<std::string> seg;
  for (auto s : url->segments()) seg.push_back(s);
  std::error_code ec;
  if (seg.size() == 3) {
    std::vector<std::pair<std::string, json::value>> found;
    for (auto& f : fs::directory_iterator(dir_, ec)) {
      const auto name = f.path().filename().string();
      if (!name.ends_with(".json")) continue;
      auto o = description_of(f.path());
      if (o.empty()) continue;
      const auto id = name.substr(0, name.size() - 5);
      if (!fs::exists(dir_ / (id + ".fbs"), ec)) continue;
      o["screen_bytes"] = size_of(dir_ / (id + ".fbs"));
      o["input_bytes"] = size_of(dir_ / (id + ".input.fbs"));
      const auto* started = o.if_contains("started");
      found.emplace_back(started && started->is_string() ? std::string(started->as_string()) : "", std::move(o));
    }
    std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.first > b.first; });
    json::array out;
    for (auto& [when, v] : found) out.push_back(std::move(v));
    return json_response(req, http::status::ok, json::serialize(json::object{{"recordings", std::move(out)}}));
  }
  // Session ids are "s-" and hex digits: nothing else names a file here.
  const bool id_ok = seg.size() == 5 && seg[3].size() > 2 && seg[3].starts_with("s-") &&
                     std::all_of(seg[3].begin() + 2, seg[3].end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (!id_ok || (seg[4] != "screen" && seg[4] != "input" && seg[4] != "play")) return error_response(req, http::status::not_found, "no such recording");
  std::uint64_t offset = 0;
  if (auto p = url->params().find("offset"); p != url->params().end()) {
    const auto& v = (*p).value;
    auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), offset);
    if (err != std::errc() || end != v.data() + v.size()) return error_response(req, http::status::bad_request, "offset must be a number");
  }
  if (seg[4] == "play") return browser_copy(req, seg[3], offset);
  return piece_of(req, dir_ / (seg[3] + (seg[4] == "screen" ? ".fbs" : ".input.fbs")), offset, chunk);
}

http_response recording_store::browser_copy(const http_request& req, const std::string& id, std::uint64_t offset) {
  std::error_code ec;
  // (The recording first: a copy whose recording was removed meanwhile is not served.)
  if (!fs::exists(dir_ / (id + ".fbs"), ec)) return error_response(req, http::status::not_found, "no such recording");
  std::lock_guard lock(copies_m_);
  const auto known = copies_.find(id);
  const auto copy = dir_ / (id + ".play.fbs");
  if (fs::exists(copy, ec)) {
    auto res = piece_of(req, copy, offset, chunk);
    if (known != copies_.end() && !known->second.stopped_early.empty()) res.set("X-Stopped-Early", known->second.stopped_early);
    return res;
  }
  if (known == copies_.end() || !known->second.running) {
    // A failure is the answer for a minute; then it is tried again (a full disk may have room again).
    if (known != copies_.end() && !known->second.error.empty() && clock::now() - known->second.failed_at < std::chrono::minutes(1))
      return error_response(req, http::status::unprocessable_entity, "cannot prepare the recording for the browser: " + known->second.error);
    const auto description = description_of(dir_ / (id + ".json"));
    const auto* state = description.if_contains("state");
    if (state && *state == "recording") return error_response(req, http::status::conflict, "the session is still being recorded");
    auto& fresh = copies_[id] = copy_state{};
    fresh.running = true;
    net::post(copier_, [this, id] { make_browser_copy(id); });
  }
  const auto& c = copies_[id];
  // "waiting": behind another copy (one is made at a time), so no progress is expected yet.
  return json_response(req, http::status::accepted,
                       json::serialize(json::object{{"preparing", true}, {"waiting", !c.started}, {"prepared_ms", c.prepared_ms}}));
}

// Writes ID.play.fbs.part in a process of its own, and renames it into place once complete: a
// copy cut off by a stop is never served (the next start removes it).
void recording_store::make_browser_copy(const std::string& id) {
  const auto part = dir_ / (id + ".play.fbs.part");
  std::error_code ec;
  browser_copy_outcome made;
  {
    std::lock_guard lock(copies_m_);
    copies_[id].started = true;
  }
  try {
    fs::remove(part, ec);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(create_private(part), &std::fclose);
    const std::function<void(std::uint32_t)> progress = [this, &id](std::uint32_t ms) {
      std::lock_guard lock(copies_m_);
      copies_[id].prepared_ms = ms;
    };
    made = run_browser_copy(helper_, dir_ / (id + ".fbs"), dir_ / (id + ".input.fbs"), ::fileno(out.get()), limits_.per_session, progress,
                      stopping_.get_token());
    if (!made.done) throw std::runtime_error(made.message.empty() ? "the copy failed" : made.message);
    // On disk before it is served: a copy is served as it stands for as long as it is there.
    if (std::fflush(out.get()) != 0 || ::fsync(::fileno(out.get())) != 0 || std::fclose(out.release()) != 0)
      throw std::runtime_error(std::string("cannot write the copy: ") + std::strerror(errno));
    fs::rename(part, dir_ / (id + ".play.fbs"));
    log::info(scope_, "recording ", id, ": browser copy made (", mib(made.bytes), ")", made.message.empty() ? "" : ", ending early: " + made.message);
  } catch (const std::exception& e) {
    made.done = false;
    made.message = *e.what() ? e.what() : "the copy failed";
    fs::remove(part, ec);
    log::warn(scope_, "recording ", id, ": no browser copy: ", made.message);
  }
  std::lock_guard lock(copies_m_);
  auto& c = copies_[id];
  c.running = false;
  c.error = made.done ? "" : made.message;
  c.failed_at = clock::now();
  c.stopped_early = made.done ? made.message : "";
}

namespace {
class recorded_stream final : public stream {
 public:
  recorded_stream(stream& inner, stream_ptr owned, std::shared_ptr<recording> r, recording::direction d)
      : inner_(inner), owned_(std::move(owned)), r_(std::move(r)), d_(d) {}
  awaitable<std::size_t> read_some(net::mutable_buffer b, error_code& ec) override {
    auto n = co_await inner_.read_some(b, ec);
    r_->add(d_, static_cast<const std::uint8_t*>(b.data()), n);
    co_return n;
  }
  awaitable<void> write(net::const_buffer b, error_code& ec) override { co_await inner_.write(b, ec); }
  void interrupt(std::string_view reason) override { inner_.interrupt(reason); }
  awaitable<void> close(std::string_view reason) override { co_await inner_.close(reason); }
  void abort() noexcept override { inner_.abort(); }
  std::string_view kind() const override { return inner_.kind(); }
  const std::string& peer() const override { return inner_.peer(); }

 private:
  stream& inner_;
  stream_ptr owned_;
  std::shared_ptr<recording> r_;
  recording::direction d_;
};
}  // namespace

stream_ptr make_recorded(stream& inner, std::shared_ptr<recording> r, recording::direction d) {
  return std::make_unique<recorded_stream>(inner, nullptr, std::move(r), d);
}

stream_ptr make_recorded(stream_ptr inner, std::shared_ptr<recording> r, recording::direction d) {
  auto& ref = *inner;
  return std::make_unique<recorded_stream>(ref, std::move(inner), std::move(r), d);
}

}  // namespace shadowlink::ums
