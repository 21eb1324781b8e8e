#pragma once
// Prometheus metrics with Debian's prometheus-cpp (its core: the HTTP side is our own server). The
// process's registry holds what the framework counts (failed TLS handshakes); each service keeps a
// registry for what it counts; GET /metrics shows both, plus the process's open descriptors,
// resident memory and splices, read when scraped. /metrics needs a bearer token of its own
// (`metrics_token_sha256`): the figures tell an attacker how busy and how exposed a server is.
#include "framework/ws_stream.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <optional>
#include <string>
#include <string_view>

namespace shadowlink::metrics {

prometheus::Registry& process();
void tls_handshake_failed(std::string_view reason);  // a short reason: version, cipher, certificate, timeout, other
void connection_refused(std::string_view limit);     // one of https_server's fixed limit names

// GET /metrics, checked first (before the service spends anything on the figures): 404 when no
// token is configured, 401 without the right bearer token; nothing if the request may read them.
std::optional<http_response> refused(const http_request& req, const std::string& token_sha256);
// The service's and the process's metrics in Prometheus' text format.
http_response answer(const http_request& req, const prometheus::Registry& service);

}  // namespace shadowlink::metrics
