#pragma once
// Runs a test body written as a coroutine on a fresh io_context, bounded in time.
#include "framework/net.hpp"
#include "framework/certs.hpp"
#include "framework/tls.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <utility>

namespace shadowlink::testing {

void run_async(std::function<awaitable<void>()> body, std::chrono::seconds limit = std::chrono::seconds(30));

// Connects two sockets to each other over 127.0.0.1. (Out-parameters rather than a returned
// pair: g++ 12 mishandles some aggregates returned from coroutines.)
awaitable<void> tcp_pair(tcp::socket& client, tcp::socket& server);

// An installation CA and a server certificate for localhost/127.0.0.1, generated once per test process.
const identity& test_identity();
std::string temp_dir();

}  // namespace shadowlink::testing
