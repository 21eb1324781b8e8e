#include "services/ums/config_import.hpp"

#include "framework/config.hpp"
#include "services/ums/passwords.hpp"
#include "services/ums/registry.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <vector>

namespace shadowlink::ums {

namespace {

// What one run did, printed at the end: every entry moved, already there, or left in the config.
struct report {
  int added = 0, present = 0;
  std::vector<std::string> left;
  void moved(bool fresh, const std::string& what) {
    (fresh ? added : present)++;
    std::cout << (fresh ? "imported: " : "already in the registry: ") << what << "\n";
  }
  void leave(const std::string& what) {
    left.push_back(what);
    std::cout << "left in the config: " << what << "\n";
  }
};

void import_folder(registry& r, const std::string& path, report& out) {
  if (!parent_folder(path).empty() && !r.rules().exists(parent_folder(path))) import_folder(r, std::string(parent_folder(path)), out);
  out.moved(!r.add_folder(path, "import-config", unix_now()), "folder " + path);
}

void import_grants(registry& r, settings& user, const std::string& name, const std::set<std::string>& folders, report& out);

// A config API token: the token of a config user (it acts as them, with their role and grants), or
// a principal of its own (a name, a role, grants), which becomes an administrator without a
// password (no password logs in as them) whom the token acts as.
void import_api_token(registry& r, settings& token, const std::map<std::string, std::string>& users, const std::set<std::string>& folders,
                      report& out) {
  const auto name = token.str("user", "");
  const auto sha = token.str("token_sha256", "");
  const auto role_name = token.str("role", "admin");
  if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos) {
    out.leave("the API token of " + name + " (no token_sha256: a plain-text demo token is not moved)");
    return;
  }
  auto add_token = [&] {
    const auto tokens = r.api_tokens();
    const bool there = std::any_of(tokens.begin(), tokens.end(), [&](const registry::api_token& t) { return t.sha256 == sha; });
    // (Config tokens had no end; 0 keeps it so.)
    if (!there)
      if (auto why = r.add_api_token({sha, name, "import-config", unix_now(), 0})) throw std::runtime_error(*why);
    out.moved(!there, "the API token of " + name);
  };
  if (auto user = users.find(name); user != users.end()) {
    const auto admins = r.administrators();
    const auto as = std::find_if(admins.begin(), admins.end(), [&](const registry::administrator& a) { return a.name == name; });
    if (as == admins.end() || as->role != user->second) {
      out.leave("the API token of " + name + " (it acts as user " + name + " of the config, who is no administrator of the registry with that role)");
      return;
    }
    return add_token();
  }
  if (auto why = subject_error("user:" + name); why || !parse_role(role_name)) {
    out.leave("the API token of " + name + " (" + (why ? *why : "role " + role_name + " is none of admin, operator, auditor") + ")");
    return;
  }
  const auto admins = r.administrators();
  const auto same = std::find_if(admins.begin(), admins.end(), [&](const registry::administrator& a) { return a.name == name; });
  if (same != admins.end() && (same->role != role_name || !same->password_hash.empty())) {
    out.leave("the API token of " + name + " (an administrator " + name + " with a password or another role is in the registry: the token would act as them)");
    return;
  }
  if (same == admins.end()) r.add_administrator({name, role_name, "", "import-config", unix_now()});
  out.moved(same == admins.end(), "administrator " + name + " (" + role_name + ", API token only)");
  import_grants(r, token, name, folders, out);
  add_token();
}

// A device group's consent and recording policy, as its folder's.
void import_policy(registry& r, settings& group, const std::string& folder, report& out) {
  std::optional<std::optional<up::consent_policy>> consent;
  std::optional<bool> record;
  if (group.has("consent")) {
    auto policy = up::parse_consent(group.str("consent", ""));
    if (!policy) {
      out.leave("the policy of device group " + folder + " (consent " + group.str("consent", "") + " is none of none, notify, ask)");
      return;
    }
    consent = *policy;
  }
  if (group.has("record")) record = group.str("record", "") == "on";
  const auto rules = r.rules();
  const auto had = rules.policies.contains(folder) ? rules.policies.at(folder) : folder_policy{};
  const bool same = (!consent || had.consent == *consent) && (!record || had.record == *record);
  if (!same) {
    if (auto why = r.set_folder_policy(folder, consent, record)) throw std::runtime_error(*why);
  }
  out.moved(!same, "the consent and recording policy of device group " + folder + " onto its folder");
}

// A user's grants naming groups, as rights on their folders; all of them or (when one of them,
// a deny above all, cannot be carried over) none: half of a user's grants could grant more than all.
void import_grants(registry& r, settings& user, const std::string& name, const std::set<std::string>& folders, report& out) {
  std::vector<folder_rule> rules;
  std::vector<std::string> cannot;
  auto rule = [&](const std::string& folder, folder_right right, bool allow) {
    if (folders.contains(folder)) rules.push_back({"user:" + name, folder, right, allow, "import-config", unix_now()});
    else cannot.push_back("group " + folder + " is no folder");
  };
  for (auto& a : user.objects("allow")) {
    const auto right = a.str("mode", "full_control") == "view_only" ? folder_right::view : folder_right::shadow;
    for (auto& g : a.strings("groups", {})) rule(g, right, true);
    for (auto& d : a.strings("devices", {})) cannot.push_back("a grant on device " + d);
  }
  for (auto& d : user.objects("deny")) {
    for (auto& g : d.strings("groups", {})) rule(g, folder_right::view, false);
    for (auto& dev : d.strings("devices", {})) cannot.push_back("a deny of device " + dev);
  }
  if (!cannot.empty()) {
    std::string why;
    for (const auto& c : cannot) why += (why.empty() ? "" : ", ") + c;
    out.leave("every grant of " + name + " (" + why + ": rights are given on folders; move such devices into folders and grant there)");
    return;
  }
  for (const auto& x : rules) {
    const auto existing = r.rules();
    const bool there = std::any_of(existing.rules.begin(), existing.rules.end(), [&](const folder_rule& e) {
      return e.subject == x.subject && e.folder == x.folder && e.right == x.right && e.allow == x.allow;
    });
    if (!there) r.put_rule(x);
    out.moved(!there, std::string(x.allow ? "allow " : "deny ") + std::string(to_string(x.right)) + " on folder " + x.folder + " for " + name);
  }
}

}  // namespace

int import_config_main(int argc, char** argv) {
  namespace po = boost::program_options;
  std::string path, service;
  po::options_description desc(
      "Usage: shadowlinkd import-config --config FILE [--service NAME]\n"
      "Moves the devices, device groups, administrators and operators' grants of a UMS's config file into\n"
      "its registry, and lists what stays in the config and why. Run it with the UMS stopped (or restart\n"
      "the UMS after it); then remove what it imported from the config.\nOptions");
  desc.add_options()("help,h", "show this help")("config", po::value(&path), "the config file")(
      "service", po::value(&service), "the UMS service's name, if the file has several");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc;
      return 0;
    }
    if (path.empty()) throw po::error("--config FILE is needed");
  } catch (const po::error& e) {
    std::cerr << "shadowlinkd import-config: " << e.what() << "\n";
    return 2;
  }
  try {
    auto cfg = config_file::load(path);
    service_config* ums = nullptr;
    for (auto& s : cfg.services)
      if (s.type == "ums" && (service.empty() || s.name == service)) {
        if (ums) throw config_error(path + ": several UMS services: name one with --service");
        ums = &s;
      }
    if (!ums) throw config_error(path + ": no UMS service" + (service.empty() ? std::string() : " named " + service));
    auto& s = ums->options;
    const auto pg = s.str("postgresql", "");
    auto r = registry::open(pg, std::filesystem::path(cfg.data_dir) / ums->name / "registry.sqlite3");
    std::cout << "registry: " << r->where() << "\n";
    report out;
    std::set<std::string> folders;
    std::map<std::string, std::vector<std::string>> groups_of;  // device -> its groups that are folders
    auto groups = s.objects("device_groups");
    std::vector<std::string> names;
    for (auto& g : groups) names.push_back(g.required_str("name"));
    for (std::size_t i = 0; i < groups.size(); ++i) {
      auto& g = groups[i];
      const auto& name = names[i];
      if (auto why = folder_path_error(name)) {
        out.leave("device group " + name + " (" + *why + ")");
        continue;
      }
      // Groups were side by side; folders nest, and rights on a folder hold below it.
      if (auto above = std::find_if(names.begin(), names.end(), [&](const std::string& o) { return o != name && folder_within(name, o); });
          above != names.end()) {
        out.leave("device group " + name + " (as a folder it would lie below group " + *above + "'s, and its devices gain its rights)");
        continue;
      }
      import_folder(*r, name, out);
      folders.insert(name);
      for (auto& d : g.strings("devices", {})) groups_of[d].push_back(name);
      if (g.has("consent") || g.has("record")) import_policy(*r, g, name, out);
    }
    for (auto& d : s.objects("devices")) {
      const auto id = d.required_str("id");
      const auto credential = d.str("credential_sha256", "");
      if (credential.empty()) {
        out.leave("device " + id + " (it has no credential_sha256; a device that presents its certificate only enrolls anew with a key)");
        continue;
      }
      const auto in = groups_of.contains(id) ? groups_of.at(id) : std::vector<std::string>();
      if (in.size() > 1) {
        out.leave("device " + id + " (it is in several device groups, a folder holds it in one: move it by hand)");
        continue;
      }
      const auto folder = in.empty() ? std::string() : in.front();
      out.moved(r->import_device(id, d.str("name", id), folder, credential, unix_now()), "device " + id + (folder.empty() ? "" : " into folder " + folder));
      if (d.has("consent") || d.has("record"))
        out.leave("device " + id + "'s own consent and recording policy (a folder's policy holds for all its devices: set one by hand)");
    }
    std::set<std::string> stored;
    for (const auto& a : r->administrators()) stored.insert(a.name);
    std::map<std::string, std::string> config_users;  // name -> role
    for (auto& u : s.objects("users")) {
      const auto name = u.required_str("user");
      const auto role_name = u.str("role", "admin");
      config_users.emplace(name, role_name);
      if (!parse_role(role_name)) {
        out.leave("user " + name + " (role " + role_name + " is none of admin, operator, auditor)");
        continue;
      }
      const auto hash = u.str("password_hash", "");
      if (hash.empty() || !parse_password_hash(hash)) {
        out.leave("user " + name + " (no password_hash: a plain-text demo password is not moved)");
        continue;
      }
      if (!stored.contains(name)) r->add_administrator({name, role_name, hash, "import-config", unix_now()});
      out.moved(!stored.contains(name), "administrator " + name + " (" + role_name + ")");
      import_grants(*r, u, name, folders, out);
    }
    for (auto& t : s.objects("api_tokens")) import_api_token(*r, t, config_users, folders, out);
    std::cout << out.added << " imported, " << out.present << " already in the registry, " << out.left.size() << " left in the config\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "shadowlinkd import-config: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace shadowlink::ums
