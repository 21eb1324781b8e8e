// Asking the device's user (consent policy "ask"): a dialog on their X display, whose answer is
// the program's exit code. Nothing is opened before a yes.
#include "framework/child_process.hpp"
#include "framework/errors.hpp"
#include "framework/log.hpp"
#include "framework/on_exit.hpp"
#include "services/device/agent.hpp"

#include <filesystem>

namespace shadowlink::device {

namespace {
// A local display (":0", ":0.0") has a socket while an X server (a user's session) runs on it.
bool display_running(const std::string& display) {
  if (display.empty() || display.front() != ':') return true;  // remote displays are the user's business
  auto number = display.substr(1, display.find('.') - 1);
  return std::filesystem::exists("/tmp/.X11-unix/X" + number);
}

}  // namespace

std::vector<std::string> agent::command(const std::vector<std::string>& argv, const up::message& req, std::int64_t timeout_s) const {
  const std::string who = req.user.empty() ? "An administrator" : req.user;
  const std::map<std::string, std::string> values{
      {"{user}", who},
      {"{mode}", req.view_only ? "view only" : "full control"},
      {"{timeout}", std::to_string(timeout_s)},
      {"{recorded}", req.recorded ? "The session is recorded." : ""},
      {"{message}", who + (req.view_only ? " asks to see your screen." : " asks to see and control your screen.") +
                        (req.recorded ? " The session is recorded." : "")}};
  std::vector<std::string> out;
  for (auto arg : argv) {
    for (auto& [key, value] : values)
      for (auto at = arg.find(key); at != std::string::npos; at = arg.find(key, at + value.size())) arg.replace(at, key.size(), value);
    out.push_back(std::move(arg));
  }
  return out;
}

awaitable<std::string> agent::ask_user(const up::message& req) {
  if (cfg_.display.empty()) co_return "the device's user cannot be asked: no display configured";
  if (!display_running(cfg_.display)) co_return "the device's user cannot be asked: nobody is logged in on display " + cfg_.display;
  const std::int64_t timeout_s = req.consent_timeout_s > 0 ? req.consent_timeout_s : 30;
  const auto asked = clock::now();
  std::optional<child_process> dialog;
  try {
    dialog.emplace(command(cfg_.consent_command, req, timeout_s), std::map<std::string, std::string>{{"DISPLAY", cfg_.display}});
  } catch (const std::exception& e) {
    co_return "the device's user cannot be asked: " + ending_words(e);
  }
  // The dialog's own timeout comes first; ours ends one that ignores it. The server may end the
  // session meanwhile (an administrator, its own deadline): its end closes the dialog at once.
  end_active_ = [this, &dialog](std::string why) {
    pending_end_ = std::move(why);
    dialog->terminate();
  };
  on_exit forget([this] { end_active_ = nullptr; });
  auto code = co_await dialog->wait(asked + std::chrono::seconds(timeout_s) + 2s);
  forget.run();
  if (!code) co_await dialog->stop(2s);
  if (!pending_end_.empty()) co_return "ended by the server while the device's user was asked: " + pending_end_;
  if (code && *code == cfg_.consent_yes_exit) co_return "";
  if (!code || clock::now() - asked >= std::chrono::seconds(timeout_s) - 500ms)
    co_return "the device's user did not answer within " + std::to_string(timeout_s) + " s";
  co_return "the device's user declined";
}

}  // namespace shadowlink::device
