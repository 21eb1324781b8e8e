#include "services/ums/recordings.hpp"

#include "tests/support/async.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <thread>

using namespace shadowlink;
using namespace shadowlink::ums;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
std::uint32_t be32(const std::uint8_t* p) { return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3]; }

// An FBS file's blocks: data and milliseconds, read back with the format's own framing.
struct fbs_block {
  std::string data;
  std::uint32_t ms;
};
std::vector<fbs_block> read_fbs(const fs::path& p) {
  auto b = bytes_of(p);
  REQUIRE(b.size() >= 12);
  REQUIRE(std::string(b.begin(), b.begin() + 12) == "FBS 001.000\n");
  std::vector<fbs_block> out;
  std::size_t i = 12;
  while (i < b.size()) {
    REQUIRE(i + 4 <= b.size());
    const auto n = be32(&b[i]);
    const auto padded = (n + 3) / 4 * 4;
    REQUIRE(i + 4 + padded + 4 <= b.size());
    out.push_back({std::string(b.begin() + i + 4, b.begin() + i + 4 + n), be32(&b[i + 4 + padded])});
    i += 4 + padded + 4;
  }
  return out;
}
int mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}
void add(recording& r, recording::direction d, std::string_view text) {
  r.add(d, reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

}  // namespace

TEST_CASE("a recording keeps both directions in FBS blocks with their times, readable by the service user only", "[recording]") {
  const fs::path dir = fs::path(testing::temp_dir()) / "recordings";
  std::shared_ptr<recording> r;
  {
    recording_store store(dir, {}, "test");
    r = store.start("s-1", "tc-1", "alice");
    add(*r, recording::direction::to_viewer, "RFB 003.008\n");
    add(*r, recording::direction::from_viewer, "RFB 003.008\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    add(*r, recording::direction::to_viewer, "odd");  // padded to 4 bytes in the file
    r->finish();
  }  // the store writes what is queued before it goes
  CHECK(r->state() == "complete");
  auto screen = read_fbs(dir / "s-1.fbs");
  REQUIRE(screen.size() == 2);
  CHECK(screen[0].data == "RFB 003.008\n");
  CHECK(screen[1].data == "odd");
  CHECK(screen[1].ms >= screen[0].ms + 20);
  auto input = read_fbs(dir / "s-1.input.fbs");
  REQUIRE(input.size() == 1);
  CHECK(input[0].data == "RFB 003.008\n");
  // Negative control: the reader is not fooled by a wrong header.
  CHECK(read_fbs(dir / "s-1.input.fbs")[0].data != "RFB 003.007\n");
  CHECK(mode_of(dir) == 0700);
  for (auto name : {"s-1.fbs", "s-1.input.fbs", "s-1.json"}) CHECK(mode_of(dir / name) == 0600);
  auto about = bytes_of(dir / "s-1.json");
  const std::string text(about.begin(), about.end());
  CHECK(text.find(R"("device":"tc-1")") != std::string::npos);
  CHECK(text.find(R"("state":"complete")") != std::string::npos);
  // A second recording of the same session id never overwrites the first.
  recording_store again(dir, {}, "test");
  CHECK_THROWS_AS(again.start("s-1", "tc-1", "alice"), system_error);
}

TEST_CASE("a recording stops at its size limit and when the disk falls behind, and says why", "[recording]") {
  const fs::path dir = fs::path(testing::temp_dir()) / "recordings";
  recording_limits small;
  small.per_session = 64 * 1024;
  std::shared_ptr<recording> big, slow;
  {
    recording_store store(dir, small, "test");
    big = store.start("s-big", "tc-1", "alice");
    const std::string chunk(4096, 'x');
    for (int i = 0; i < 40; ++i) add(*big, recording::direction::to_viewer, chunk);
    big->finish();
    CHECK(big->state().find("size limit") == 0);
  }
  CHECK(fs::file_size(dir / "s-big.fbs") + fs::file_size(dir / "s-big.input.fbs") <= small.per_session);
  CHECK(fs::file_size(dir / "s-big.fbs") > small.per_session / 2);
  recording_limits tiny_queue;
  tiny_queue.queue = 100;
  recording_store store(dir, tiny_queue, "test");
  slow = store.start("s-slow", "tc-1", "alice");
  add(*slow, recording::direction::to_viewer, std::string(200, 'y'));
  CHECK(slow->state().find("the disk did not keep up") == 0);
}

TEST_CASE("the oldest recordings are removed first to keep the total under its limit", "[recording]") {
  const fs::path dir = fs::path(testing::temp_dir()) / "recordings";
  recording_limits l;
  l.per_session = 64 * 1024;
  l.total = 2 * 64 * 1024;
  recording_store store(dir, l, "test");
  const std::string chunk(30 * 1024, 'z');
  for (auto id : {"s-a", "s-b", "s-c"}) {
    auto r = store.start(id, "tc-1", "alice");
    add(*r, recording::direction::to_viewer, chunk);
    r->finish();
    // Distinct modification times, oldest first.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto before = 0;
  while (!fs::exists(dir / "s-c.json") && before++ < 100) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // 3 x ~31 KiB on disk + room for one more (64 KiB) is over 128 KiB: the oldest goes, and only it.
  auto r = store.start("s-d", "tc-1", "alice");
  CHECK_FALSE(fs::exists(dir / "s-a.fbs"));
  CHECK_FALSE(fs::exists(dir / "s-a.json"));
  CHECK(fs::exists(dir / "s-b.fbs"));
  CHECK(fs::exists(dir / "s-c.fbs"));
  CHECK(fs::exists(dir / "s-d.fbs"));
  r->finish();
}

TEST_CASE("a recording cut off by a stopped server is marked so when the server starts again", "[recording]") {
  const fs::path dir = fs::path(testing::temp_dir()) / "recordings";
  {
    recording_store store(dir, {}, "test");
    auto r = store.start("s-cut", "tc-1", "alice");
    add(*r, recording::direction::to_viewer, "RFB 003.008\n");
    // No finish(): the server stops in the middle of the session.
  }
  auto before = bytes_of(dir / "s-cut.json");
  CHECK(std::string(before.begin(), before.end()).find(R"("state":"recording")") != std::string::npos);
  recording_store again(dir, {}, "test");
  auto after = bytes_of(dir / "s-cut.json");
  const std::string text(after.begin(), after.end());
  CHECK(text.find(R"("state":"cut off when the server stopped")") != std::string::npos);
  CHECK(text.find(R"("state":"recording")") == std::string::npos);
  CHECK(read_fbs(dir / "s-cut.fbs").size() == 1);
}
