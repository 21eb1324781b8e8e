#pragma once
// What the fuzz targets share: the input as a stream whose reads end at places the input itself
// chooses (a peer's bytes arrive in any split), and a coroutine run to its end on a fresh event loop.
#include "framework/stream.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>

namespace shadowlink::fuzz {

// Read sizes from a small generator seeded by the input: the same input always splits the same
// way (a crash reproduces), and the bytes themselves stay what the peer sent (seeds are real
// streams, not encodings of them).
class splitter {
 public:
  explicit splitter(std::span<const std::uint8_t> data) {
    for (auto b : data.first(std::min<std::size_t>(data.size(), 16))) state_ = state_ * 131 + b + 1;
  }
  std::size_t next(std::size_t max) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    // Mostly short reads (headers split anywhere), sometimes everything at once.
    const auto r = state_ >> 33;
    const std::size_t n = r % 8 == 0 ? max : 1 + r % 24;
    return std::min(n, max);
  }

 private:
  std::uint64_t state_ = 1;
};

// The peer: reads give the input in pieces, then end of stream; writes are accepted and dropped.
class input_stream final : public stream {
 public:
  explicit input_stream(std::span<const std::uint8_t> data) : data_(data), split_(data) {}

  awaitable<std::size_t> read_some(net::mutable_buffer buf, error_code& ec) override {
    if (pos_ == data_.size()) {
      ec = net::error::eof;
      co_return 0;
    }
    const auto n = split_.next(std::min(buf.size(), data_.size() - pos_));
    std::memcpy(buf.data(), data_.data() + pos_, n);
    pos_ += n;
    co_return n;
  }
  awaitable<void> write(net::const_buffer buf, error_code&) override {
    written_ += buf.size();
    co_return;
  }
  void interrupt(std::string_view) override {}
  awaitable<void> close(std::string_view) override { co_return; }
  void abort() noexcept override {}
  std::string_view kind() const override { return "fuzz input"; }
  const std::string& peer() const override { return peer_; }

 private:
  std::span<const std::uint8_t> data_;
  splitter split_;
  std::size_t pos_ = 0;
  std::size_t written_ = 0;
  std::string peer_ = "fuzzer";
};

// Runs `op` to its end. An exception of the kind the parser documents is a refusal (the caller
// catches it); any other escapes and libFuzzer reports it as a crash.
template <class Awaitable>
void run(Awaitable op) {
  net::io_context io(1);
  std::exception_ptr error;
  bool done = false;
  net::co_spawn(io, std::move(op), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.run();
  if (!done) std::abort();  // the input ran out, so every read has ended: a parser that still waits hangs
  if (error) std::rethrow_exception(error);
}

}  // namespace shadowlink::fuzz
