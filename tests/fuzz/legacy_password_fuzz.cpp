// The OS 11 device's legacy port reads one line from whoever connects: the session id and the
// password. Anything but one well-formed line within the bound is refused (nullopt), never more.
#include "protocol/legacy_password.hpp"
#include "tests/fuzz/fuzz_input.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shadowlink;
  fuzz::input_stream viewer({data, size});
  auto receive = [&]() -> awaitable<void> {
    auto offered = co_await legacy::receive(viewer, 10s);
    if (!offered) co_return;
    if (offered->session_id.empty() || offered->password.empty()) std::abort();
    if (offered->session_id.find(' ') != std::string::npos) std::abort();
    if (offered->session_id.size() + offered->password.size() + 2 > legacy::max_line) std::abort();
  };
  fuzz::run(receive());  // receive() documents no exception: any is a crash
  return 0;
}
