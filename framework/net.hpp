#pragma once
// Common names for the whole project. Asio comes from Boost because Beast only works on Boost.Asio;
// the ssl layer is backed by wolfSSL (BOOST_ASIO_USE_WOLFSSL, see the top-level CMakeLists.txt).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>

namespace shadowlink {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;
using boost::system::system_error;
using net::awaitable;
using net::use_awaitable;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

// The one completion-token style for operations whose failure is an expected outcome.
inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

}  // namespace shadowlink
