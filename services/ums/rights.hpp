#pragma once
// Who may do what on the UMS. Three roles: an admin may do everything; an operator may shadow the
// devices granted to them (full control or view only) and end their own sessions; an auditor may
// read the audit trail and see devices and sessions. Operators' grants name devices or device
// groups; a deny names them the same way and beats every allow.
#include "framework/config.hpp"
#include "protocol/consent.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace shadowlink::ums {

enum class role { admin, operator_, auditor };
enum class access { none, view_only, full_control };

std::string_view to_string(role r);
std::string_view to_string(access a);

// Named sets of devices (the config's "device_groups"); a group may also set the devices'
// consent policy.
class device_groups {
 public:
  void configure(settings& ums);  // reads "device_groups"
  bool exists(std::string_view group) const { return members_.contains(group); }
  // A device enrolled into the group (its folder) after the config named the group's members.
  void add_member(std::string_view group, std::string_view device) { members_[std::string(group)].emplace(device); }
  void remove_member(std::string_view group, std::string_view device) {
    if (auto g = members_.find(group); g != members_.end())
      if (auto m = g->second.find(device); m != g->second.end()) g->second.erase(m);
  }
  bool contains(std::string_view group, std::string_view device) const;
  // The strictest consent policy among the device's groups, if any of them sets one.
  std::optional<up::consent_policy> consent_of(std::string_view device) const;
  // Whether a group of the device has its sessions recorded.
  bool records(std::string_view device) const;
  // Devices named by the groups that are not configured devices (a typo would grant nothing).
  struct member {
    std::string group, device;
  };
  std::vector<member> unknown_devices(const std::set<std::string, std::less<>>& known) const;

 private:
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> members_;
  std::map<std::string, up::consent_policy, std::less<>> consent_;
  std::set<std::string, std::less<>> recorded_;  // groups whose sessions are recorded
};

// Devices named directly and through groups.
struct device_set {
  std::set<std::string, std::less<>> devices, groups;
  bool has(std::string_view device, const device_groups& g) const;
};

// What one user (or API token) may do.
struct principal {
  role r = role::admin;
  struct grant {
    device_set which;
    access mode = access::full_control;
  };
  std::vector<grant> allow;
  std::vector<device_set> deny;

  // Reads "role", "allow" and "deny" of a user or API token entry. Operators need at least one
  // allow; admins and auditors take no grants (an admin may do everything, an auditor nothing).
  static principal read(settings& entry, const device_groups& groups);

  access to(std::string_view device, const device_groups& groups) const;
  bool may_read_audit() const { return r != role::operator_; }
  bool sees_everything() const { return r != role::operator_; }
};

}  // namespace shadowlink::ums
