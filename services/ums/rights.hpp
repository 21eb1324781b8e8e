#pragma once
// Who may do what on the UMS. Three roles: an admin may do everything; an operator may shadow the
// devices granted to them (full control or view only) and end their own sessions; an auditor may
// read the audit trail and see devices and sessions. Operators' grants name devices or device
// groups; a deny names them the same way and beats every allow.
// Beside the config's grants, rights kept in the registry (folder_rules): granted or denied on a
// folder of devices to an administrator or a group of administrators, inherited by the folders
// below it; a deny beats every allow, the config's too.
#include "framework/config.hpp"
#include "protocol/consent.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace shadowlink::ums {

enum class role { admin, operator_, auditor };
enum class access { none, view_only, full_control };

std::string_view to_string(role r);
std::optional<role> parse_role(std::string_view s);
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
  // Whether a deny of the config names the device (an operator's).
  bool denies(std::string_view device, const device_groups& groups) const;
  bool may_read_audit() const { return r != role::operator_; }
  bool sees_everything() const { return r != role::operator_; }
};

// Folders of devices: a path of names separated by '/' ("berlin/floor-2"); "" is the root, which
// holds every folder and the configured devices. Why a path is no folder's name (nothing: it is).
std::optional<std::string> folder_path_error(std::string_view path);
std::string_view parent_folder(std::string_view path);  // ("" for a top folder)
// Whether `folder` is `ancestor` or below it (everything is below the root).
bool folder_within(std::string_view folder, std::string_view ancestor);

// What a right on a folder lets its holder do with the devices in and below it: shadow them (full
// control, and so view), view them, manage them (enrollment keys for the folder, subfolders,
// moving and removing devices), read their audit trail. A denied `shadow` leaves viewing; a
// denied `view` leaves no session at all.
enum class folder_right { shadow, view, manage, audit };
std::string_view to_string(folder_right r);
std::optional<folder_right> parse_folder_right(std::string_view s);

// One row of the registry's rights: `subject` is "user:NAME" or "group:NAME".
struct folder_rule {
  std::string subject, folder;
  folder_right right = folder_right::view;
  bool allow = true;
  std::string granted_by;
  std::int64_t granted_at = 0;
};
// Why a subject is not one (nothing: it is).
std::optional<std::string> subject_error(std::string_view subject);

// What a folder sets for the sessions of the devices in and below it: a consent policy (the
// strictest of its own and those of the folders above holds: a folder below cannot loosen it) and
// recording (on if any of them records).
struct folder_policy {
  std::optional<up::consent_policy> consent;
  bool record = false;
  bool operator==(const folder_policy&) const = default;
  bool empty() const { return !consent && !record; }
};

// The registry's folders, rights and groups of administrators, as one snapshot (read again when
// the registry's revision of them changes).
struct folder_rules {
  std::int64_t revision = -1;  // -1: never read
  std::set<std::string, std::less<>> folders;
  std::map<std::string, folder_policy, std::less<>> policies;  // folders that set one
  std::vector<folder_rule> rules;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> groups;  // group -> its administrators

  bool exists(std::string_view folder) const { return folder.empty() || folders.contains(folder); }
  // By the rules that speak of `user` (theirs, or one of their groups') about `folder` or a folder above it.
  bool allows(std::string_view user, folder_right r, std::string_view folder) const {
    const auto f = find(user, r, folder);
    return f.allowed && !f.denied;
  }
  bool denies(std::string_view user, folder_right r, std::string_view folder) const { return find(user, r, folder).denied; }
  // Whether any rule allows `user` this right anywhere (a folder below which they may act).
  bool allows_somewhere(std::string_view user, folder_right r) const;
  bool denies_somewhere(std::string_view user, folder_right r) const;
  // What holds for the devices in `folder`: its policy with those of the folders above.
  folder_policy policy_of(std::string_view folder) const;
  // Shadowing by these rules alone: denies are applied; none where nothing allows.
  access shadow_access(std::string_view user, std::string_view folder) const;

 private:
  bool applies(const folder_rule& rule, std::string_view user) const;
  struct found {
    bool allowed = false, denied = false;
  };
  found find(std::string_view user, folder_right r, std::string_view folder) const;
};

}  // namespace shadowlink::ums
