#pragma once
// `shadowlinkd import-config --config FILE`: what a UMS's config file of an earlier version holds
// about devices, device groups, administrators and operators' grants, moved into its registry
// (the SQLite file in its data directory, or its PostgreSQL database), so that the config can keep
// only what the node needs to start. Device groups become folders, configured devices enrolled
// devices in their first group's folder (their credential stands for the key), users with a
// password hash administrators, and grants naming groups rights on those folders. What cannot be
// moved (grants naming single devices, consent and recording policies, API tokens, plain-text demo
// passwords) is listed with the reason and stays in the config. Running it again adds nothing twice.
namespace shadowlink::ums {

int import_config_main(int argc, char** argv);

}  // namespace shadowlink::ums
