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
  // (An operator without grants in the config may have rights on folders, in the registry.)
  CHECK(fixture(groups_json, R"({"user": "op", "role": "operator"})").who.to("tc-1", {}) == access::none);
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

namespace {

folder_rule rule(std::string subject, std::string folder, folder_right r, bool allow) {
  folder_rule x;
  x.subject = std::move(subject);
  x.folder = std::move(folder);
  x.right = r;
  x.allow = allow;
  return x;
}

}  // namespace

TEST_CASE("a right on a folder is inherited by the folders below it, and not by its neighbours or its parent") {
  folder_rules f;
  f.rules.push_back(rule("user:op", "berlin", folder_right::shadow, true));
  CHECK(f.shadow_access("op", "berlin") == access::full_control);
  CHECK(f.shadow_access("op", "berlin/floor-2/room 7") == access::full_control);
  // A name that merely starts the same is another folder.
  CHECK(f.shadow_access("op", "berlin-east") == access::none);
  CHECK(f.shadow_access("op", "") == access::none);
  CHECK(f.shadow_access("someone else", "berlin") == access::none);
}

TEST_CASE("a deny on a folder beats every allow above or on it: a denied view ends shadowing, a denied shadow leaves viewing") {
  folder_rules f;
  f.rules.push_back(rule("user:op", "", folder_right::shadow, true));
  f.rules.push_back(rule("user:op", "berlin/vip", folder_right::view, false));
  f.rules.push_back(rule("user:op", "berlin/desk", folder_right::shadow, false));
  CHECK(f.shadow_access("op", "berlin") == access::full_control);
  CHECK(f.shadow_access("op", "berlin/vip/ceo") == access::none);
  CHECK(f.shadow_access("op", "berlin/desk") == access::view_only);
  CHECK(f.denies("op", folder_right::view, "berlin/vip"));
  CHECK_FALSE(f.allows("op", folder_right::view, "berlin/vip"));
}

TEST_CASE("rights given to a group of administrators hold for its members only, and a deny to the group beats a member's own allow") {
  folder_rules f;
  f.groups["helpdesk"] = {"ann", "bob"};
  f.rules.push_back(rule("group:helpdesk", "lab", folder_right::view, true));
  f.rules.push_back(rule("user:bob", "lab", folder_right::manage, true));
  f.rules.push_back(rule("group:helpdesk", "lab/secret", folder_right::manage, false));
  CHECK(f.shadow_access("ann", "lab/a") == access::view_only);
  CHECK(f.shadow_access("carl", "lab/a") == access::none);
  CHECK(f.allows("bob", folder_right::manage, "lab"));
  CHECK_FALSE(f.allows("bob", folder_right::manage, "lab/secret"));
  CHECK_FALSE(f.allows("ann", folder_right::manage, "lab"));
  CHECK(f.allows_somewhere("bob", folder_right::manage));
  CHECK_FALSE(f.allows_somewhere("ann", folder_right::audit));
}

TEST_CASE("a folder's policy holds below it: the strictest consent on the way up wins, and recording by any folder above records") {
  folder_rules f;
  f.policies["berlin"] = {up::consent_policy::notify, false};
  f.policies["berlin/floor-2"] = {up::consent_policy::none, true};
  f.policies["berlin/floor-2/lab"] = {up::consent_policy::ask, false};
  CHECK(f.policy_of("berlin") == folder_policy{up::consent_policy::notify, false});
  CHECK(f.policy_of("berlin/floor-2") == folder_policy{up::consent_policy::notify, true});  // (its own "none" cannot loosen)
  CHECK(f.policy_of("berlin/floor-2/lab/x") == folder_policy{up::consent_policy::ask, true});
  // A neighbour, the root and a name that merely starts the same set nothing.
  CHECK(f.policy_of("munich").empty());
  CHECK(f.policy_of("").empty());
  CHECK(f.policy_of("berlin-east").empty());
}

TEST_CASE("folder paths are names joined by single slashes, and a wrong one is refused with the reason") {
  CHECK_FALSE(folder_path_error("berlin/floor-2/room 7.b_c"));
  CHECK(folder_path_error("").has_value());
  CHECK(folder_path_error("/berlin").has_value());
  CHECK(folder_path_error("berlin/").has_value());
  CHECK(folder_path_error("berlin//x").has_value());
  CHECK(folder_path_error("berlin/../x").has_value());
  CHECK(folder_path_error("ber\"lin").has_value());
  CHECK(parent_folder("a/b/c") == "a/b");
  CHECK(parent_folder("a").empty());
  CHECK(folder_within("a/b", ""));
  CHECK_FALSE(folder_within("ab", "a"));
  CHECK(subject_error("user:op@example.org") == std::nullopt);
  CHECK(subject_error("op").has_value());
  CHECK(subject_error("group:").has_value());
  CHECK(parse_folder_right("manage") == folder_right::manage);
  CHECK_FALSE(parse_folder_right("root").has_value());
}
