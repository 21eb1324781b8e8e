#pragma once
#include "framework/net.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace shadowlink {

// The one classifier of I/O endings: true for what a healthy peer or our own shutdown produces
// (EOF, WebSocket close, reset, cancellation, timeouts, and a TLS peer that left without
// close_notify: framework/tls_socket reports that as stream_truncated). TLS errors (a bad record
// MAC, a failed decryption, an alert) are not normal endings.
bool is_normal_end(const error_code& ec);
// A TLS protocol failure (wolfSSL's error, or the ssl stream category except truncation).
bool is_tls_failure(const error_code& ec);

// Same question for an exception that left a session coroutine.
bool is_normal_end(const std::exception_ptr& ep);

// A step that ran out of time, with the words that say which ("the viewer did not connect in
// time"): an administrator reading a session's end must know which party to look at.
struct step_timed_out : system_error {
  explicit step_timed_out(std::string words) : system_error(net::error::timed_out, words), words(std::move(words)) {}
  std::string words;
};

// The words for how an operation ended by an exception, for logs, audit records and answers: a
// step_timed_out's own words, "timed out", "stopped" (cancelled or aborted), or the exception's
// own message.
std::string ending_words(const std::exception& e);

// wolfSSL reports every failure through Asio as "unexpected result"; this asks wolfSSL for the reason.
std::string tls_failure_reason(void* native_ssl, const error_code& ec);

// A system_error carrying a readable message for configuration and protocol violations.
[[noreturn]] void fail(std::string_view what);

// The shared co_spawn completion handler: logs unexpected exceptions with the scope; expected endings quietly.
struct log_exceptions {
  std::string scope;
  void operator()(std::exception_ptr ep) const;
};

}  // namespace shadowlink
