#include "framework/errors.hpp"

#include "framework/log.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>
#include <wolfssl/ssl.h>

namespace shadowlink {

bool is_normal_end(const error_code& ec) {
  namespace ne = net::error;
  namespace ws = boost::beast::websocket;
  if (!ec) return true;
  if (ec == ne::eof || ec == ne::connection_reset || ec == ne::operation_aborted || ec == ne::broken_pipe ||
      ec == ne::not_connected || ec == ne::timed_out || ec == ne::bad_descriptor || ec == ne::connection_aborted)
    return true;
  if (ec == ws::error::closed || ec == boost::beast::error::timeout || ec == boost::beast::http::error::end_of_stream)
    return true;
  // A peer that vanished without close_notify: common (power cut, NAT timeout) and told apart in
  // the words of the ending, but not a failure of ours.
  if (ec == net::ssl::error::stream_truncated) return true;
  return false;  // TLS errors after the handshake (bad MAC, decrypt failure, ...) included
}

bool is_tls_failure(const error_code& ec) {
  return ec.category() == net::error::get_ssl_category() ||
         (ec.category() == net::ssl::error::get_stream_category() && ec != net::ssl::error::stream_truncated);
}

bool is_normal_end(const std::exception_ptr& ep) {
  if (!ep) return true;
  try {
    std::rethrow_exception(ep);
  } catch (const system_error& e) {
    return is_normal_end(e.code());
  } catch (...) {
    return false;
  }
}

std::string ending_words(const std::exception& e) {
  if (auto* step = dynamic_cast<const step_timed_out*>(&e)) return step->words;
  if (auto* se = dynamic_cast<const system_error*>(&e)) {
    if (se->code() == net::error::timed_out) return "timed out";
    if (se->code() == net::error::operation_aborted) return "stopped";
    // Boost appends where the error was raised ("... [system:2 at /usr/include/...]"): source
    // locations are for debuggers, not for an administrator's log line.
    std::string w = e.what();
    if (auto cut = w.rfind(std::string(" [") + se->code().category().name() + ":"); cut != std::string::npos) w.resize(cut);
    return w;
  }
  return e.what();
}

std::string tls_failure_reason(void* native_ssl, const error_code& ec) {
  if (native_ssl) {
    auto* ssl = static_cast<WOLFSSL*>(native_ssl);
    int err = wolfSSL_get_error(ssl, 0);
    if (err != 0 && err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE) {
      char buf[WOLFSSL_MAX_ERROR_SZ] = {};
      wolfSSL_ERR_error_string(static_cast<unsigned long>(err), buf);
      return buf;
    }
  }
  return ec.message();
}

void fail(std::string_view what) {
  throw system_error(make_error_code(boost::system::errc::protocol_error), std::string(what));
}

void log_exceptions::operator()(std::exception_ptr ep) const {
  if (!ep) return;
  try {
    std::rethrow_exception(ep);
  } catch (const system_error& e) {
    if (is_normal_end(e.code()))
      log::debug(scope, "ended: ", e.code().message());
    else if (is_tls_failure(e.code()))
      log::warn(scope, "TLS failure: ", e.what());  // the peer's doing (or an attack), not our bug
    else
      log::error(scope, "failed: ", e.what());
  } catch (const std::exception& e) {
    log::error(scope, "failed: ", e.what());
  }
}

}  // namespace shadowlink
