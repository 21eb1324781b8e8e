#pragma once
// What the window's keyboard means in RFB: X keysyms for SDL's keys and typed text.
#include <SDL2/SDL_keycode.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace shadowlink::console {

// The keysym of a key that types no text (Return, arrows, F1, Shift...), or 0 for a key whose
// meaning comes as text (SDL_TEXTINPUT), so that the administrator's keyboard layout decides it.
std::uint32_t special_keysym(SDL_Keycode key);

// The keysyms of typed text: Latin-1 characters are their own keysyms, others Unicode keysyms
// (0x01000000 + code point), as X servers and TigerVNC understand them.
std::vector<std::uint32_t> text_keysyms(std::string_view utf8);

}  // namespace shadowlink::console
