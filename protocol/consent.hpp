#pragma once
// Whether the device's user is asked before a shadow session opens: the server's policy for the
// device travels in the shadow request; the device may only make it stricter.
#include <optional>
#include <string_view>

namespace shadowlink::up {

enum class consent_policy {
  none,    // open without telling the user (only where that is lawful and agreed)
  notify,  // open, and show the user that they are being shadowed for as long as it lasts
  ask,     // ask the user first; open only on their yes, then notify
};

std::optional<consent_policy> parse_consent(std::string_view text);  // none, notify, ask
std::string_view to_string(consent_policy p);
inline consent_policy strictest(consent_policy a, consent_policy b) { return a > b ? a : b; }

}  // namespace shadowlink::up
