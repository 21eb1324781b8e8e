#include "protocol/consent.hpp"

namespace shadowlink::up {

std::optional<consent_policy> parse_consent(std::string_view text) {
  if (text == "none") return consent_policy::none;
  if (text == "notify") return consent_policy::notify;
  if (text == "ask") return consent_policy::ask;
  return std::nullopt;
}

std::string_view to_string(consent_policy p) {
  switch (p) {
    case consent_policy::none: return "none";
    case consent_policy::notify: return "notify";
    case consent_policy::ask: return "ask";
  }
  return "ask";
}

}  // namespace shadowlink::up
