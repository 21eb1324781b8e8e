#include "services/ums/rights.hpp"

#include <catch2/catch.hpp>

using namespace shadowlink;
using namespace shadowlink::ums;

namespace {

// Settings of a UMS (device groups) and one user entry, from JSON text.
struct fixture {
  simdjson::dom::parser p1, p2;
  device_groups groups;
  principal who;
  fixture(const char* ums_json, const char* user_json) {
    settings ums(p1.parse(std::string(ums_json)).get_object().value(), "ums");
    groups.configure(ums);
    settings user(p2.parse(std::string(user_json)).get_object().value(), "user");
    user.str("user", "");
    who = principal::read(user, groups);
    user.finish();
  }
};

std::string error_of(const char* ums_json, const char* user_json) {
  try {
    fixture f(ums_json, user_json);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

constexpr const char* groups_json = R"({"device_groups": [
  {"name": "lab", "devices": ["tc-1", "tc-2", "tc-3"], "consent": "notify"},
  {"name": "front-desk", "devices": ["tc-3", "tc-4"], "consent": "ask"}]})";

}  // namespace

TEST_CASE("an admin may shadow every device in full control, an auditor none") {
  CHECK(fixture(groups_json, R"({"user": "a"})").who.to("anything", {}) == access::full_control);
  fixture auditor(groups_json, R"({"user": "b", "role": "auditor"})");
  CHECK(auditor.who.to("tc-1", auditor.groups) == access::none);
  CHECK(auditor.who.may_read_audit());
}

TEST_CASE("an operator gets what their grants name, through devices and groups, and the widest grant wins") {
  fixture f(groups_json, R"({"user": "op", "role": "operator", "allow": [
    {"groups": ["lab"], "mode": "view_only"}, {"devices": ["tc-2"]}]})");
  CHECK(f.who.to("tc-1", f.groups) == access::view_only);
  CHECK(f.who.to("tc-2", f.groups) == access::full_control);
  CHECK(f.who.to("tc-4", f.groups) == access::none);
  CHECK_FALSE(f.who.may_read_audit());
}

TEST_CASE("a deny beats every allow, whether it names the device or one of its groups") {
  fixture by_device(groups_json, R"({"user": "op", "role": "operator", "allow": [{"groups": ["lab"]}],
    "deny": [{"devices": ["tc-2"]}]})");
  CHECK(by_device.who.to("tc-1", by_device.groups) == access::full_control);
  CHECK(by_device.who.to("tc-2", by_device.groups) == access::none);
  fixture by_group(groups_json, R"({"user": "op", "role": "operator", "allow": [{"devices": ["tc-3", "tc-1"]}],
    "deny": [{"groups": ["front-desk"]}]})");
  CHECK(by_group.who.to("tc-3", by_group.groups) == access::none);
  CHECK(by_group.who.to("tc-1", by_group.groups) == access::full_control);
}

TEST_CASE("a device's groups set its consent policy, the strictest of them winning") {
  fixture f(groups_json, R"({"user": "a"})");
  CHECK(f.groups.consent_of("tc-1") == up::consent_policy::notify);
  CHECK(f.groups.consent_of("tc-3") == up::consent_policy::ask);
  CHECK_FALSE(f.groups.consent_of("elsewhere").has_value());
}

TEST_CASE("grants that cannot mean anything are config errors naming the key") {
  CHECK(error_of(groups_json, R"({"user": "op", "role": "operator"})") == "user.allow: an operator needs at least one grant");
  CHECK(error_of(groups_json, R"({"user": "op", "role": "operator", "allow": [{"groups": ["nope"]}]})") ==
        "user.allow[0].groups: no device group named 'nope'");
  CHECK(error_of(groups_json, R"({"user": "op", "role": "operator", "allow": [{"mode": "view_only"}]})") ==
        "user.allow[0].devices: name devices or groups");
  CHECK(error_of(groups_json, R"({"user": "op", "role": "operator", "allow": [{"devices": ["tc-1"], "mode": "all"}]})") ==
        "user.allow[0].mode: expected full_control or view_only");
  CHECK(error_of(groups_json, R"({"user": "a", "role": "admin", "deny": [{"devices": ["tc-1"]}]})").starts_with("user.deny: only operators"));
  CHECK(error_of(groups_json, R"({"user": "a", "role": "root"})") == "user.role: expected admin, operator or auditor");
  CHECK(error_of(R"({"device_groups": [{"name": "x"}, {"name": "x"}]})", R"({"user": "a"})") ==
        "ums.device_groups[1].name: duplicate device group 'x'");
}
