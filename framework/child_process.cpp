#include "framework/child_process.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace shadowlink {

child_process::child_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                             const std::vector<std::pair<int, int>>& redirect) {
  if (argv.empty()) throw std::runtime_error("no program to start");
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (!env.contains(kv.substr(0, kv.find('=')))) envs.push_back(std::move(kv));
  }
  for (auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  // The child gets standard input, output and error only: none of the service's sockets and files.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int rc = 0;
  for (auto [from, to] : redirect)
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, from, to);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (rc == 0) rc = posix_spawnp(&pid_, argv[0].c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

child_process::~child_process() {
  if (pid_ <= 0 || code_) return;
  terminate();
  for (int i = 0; i < 20 && !reap(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!code_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void child_process::terminate() {
  if (pid_ > 0 && !code_) ::kill(pid_, SIGTERM);
}

bool child_process::reap() {
  if (code_) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

std::optional<int> child_process::exited() {
  reap();
  return code_;
}

awaitable<void> child_process::stop(clock::duration grace) {
  terminate();
  co_await wait(clock::now() + grace);
}

awaitable<std::optional<int>> child_process::wait(clock::time_point deadline) {
  // Polling every 50 ms: no SIGCHLD handler to share with the rest of the process.
  net::steady_timer t(co_await net::this_coro::executor);
  while (!reap()) {
    if (clock::now() >= deadline) co_return std::nullopt;
    t.expires_after(std::min<clock::duration>(50ms, deadline - clock::now()));
    co_await t.async_wait(use_tuple);
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return std::nullopt;
  }
  co_return code_;
}

}  // namespace shadowlink
