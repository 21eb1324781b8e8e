// WebSocket over TLS: the expensive instantiation, kept in this one translation unit.
#include "framework/ws_stream_impl.hpp"

namespace shadowlink {

awaitable<ws_ptr> accept_ws(std::unique_ptr<tls_socket> s, const http_request& req, const ws_options& o, std::string peer) {
  auto p = std::make_unique<detail::ws_impl<tls_socket>>(std::move(peer), o, std::move(*s));
  co_return co_await detail::accept_on(std::move(p), req);
}

awaitable<ws_ptr> connect_ws_tls(tls_client& tls, const ws_target& t, const std::map<std::string, std::string>& headers,
                                 const ws_options& o) {
  auto s = co_await connect_tls(tls, t.host, t.port, o.handshake_timeout);
  auto peer = endpoint_string(s->next_layer());
  auto p = std::make_unique<detail::ws_impl<tls_socket>>(std::move(peer), o, std::move(*s));
  co_await detail::upgrade_client(*p, t, headers);
  co_return p;
}

}  // namespace shadowlink
