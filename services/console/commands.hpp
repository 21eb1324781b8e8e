#pragma once
// The console's commands, each one coroutine: devices, shadow (a local port for an external
// viewer), view (the internal viewer: a window), snapshot, sessions, end, audit, recordings.
#include "services/console/rest_client.hpp"

namespace shadowlink::console {

awaitable<int> cmd_devices(client& c, const options& o);
awaitable<int> cmd_shadow(client& c, const options& o);
awaitable<int> cmd_snapshot(client& c, const options& o);
awaitable<int> cmd_view(client& c, const options& o);
awaitable<int> cmd_sessions(client& c, const options& o);
awaitable<int> cmd_end(client& c, const options& o);
awaitable<int> cmd_recordings(client& c, const options& o);
awaitable<int> cmd_fetch_recording(client& c, const options& o);  // recording_commands.cpp
awaitable<int> cmd_export_recording(client& c, const options& o);
awaitable<int> cmd_audit(client& c, const options& o);
awaitable<int> cmd_enrollment_key(client& c, const options& o);  // enrollment_commands.cpp
awaitable<int> cmd_revoke_certificate(client& c, const options& o);
awaitable<int> cmd_remove_device(client& c, const options& o);
awaitable<int> cmd_folder(client& c, const options& o);  // folder_commands.cpp
awaitable<int> cmd_move_device(client& c, const options& o);
awaitable<int> cmd_right(client& c, const options& o);
awaitable<int> cmd_admin_group(client& c, const options& o);
awaitable<int> cmd_administrator(client& c, const options& o);
awaitable<int> cmd_api_token(client& c, const options& o);

}  // namespace shadowlink::console
