#include "framework/errors.hpp"

#include <boost/asio/error.hpp>

#include <catch2/catch.hpp>

using namespace shadowlink;

TEST_CASE("ending words name what failed without the source location Boost appends to a system error") {
  static constexpr boost::source_location here = BOOST_CURRENT_LOCATION;
  const system_error located(error_code(ENOENT, boost::system::system_category(), &here), "connect to /run/vnc.sock");
  REQUIRE(std::string(located.what()).find(here.file_name()) != std::string::npos);  // what Boost gives: the location is there
  const auto words = ending_words(located);
  CHECK(words.find(here.file_name()) == std::string::npos);
  CHECK(words.find("connect to /run/vnc.sock") != std::string::npos);
  CHECK(words.find(error_code(ENOENT, boost::system::system_category()).message()) != std::string::npos);
}

TEST_CASE("ending words say 'timed out' and 'stopped' for Asio's timeout and cancellation, and pass other exceptions' text") {
  CHECK(ending_words(system_error(boost::asio::error::timed_out)) == "timed out");
  CHECK(ending_words(system_error(boost::asio::error::operation_aborted)) == "stopped");
  CHECK(ending_words(std::runtime_error("device refused: busy")) == "device refused: busy");
}
