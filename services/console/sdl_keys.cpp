#include "services/console/sdl_keys.hpp"

#include <SDL2/SDL_endian.h>
#include <SDL2/SDL_stdinc.h>
#include <rfb/keysym.h>

#include <string>
#include <unordered_map>

namespace shadowlink::console {

std::uint32_t special_keysym(SDL_Keycode key) {
  static const std::unordered_map<SDL_Keycode, std::uint32_t> keys{
      {SDLK_BACKSPACE, XK_BackSpace}, {SDLK_TAB, XK_Tab},         {SDLK_RETURN, XK_Return},     {SDLK_ESCAPE, XK_Escape},
      {SDLK_DELETE, XK_Delete},       {SDLK_INSERT, XK_Insert},   {SDLK_HOME, XK_Home},         {SDLK_END, XK_End},
      {SDLK_PAGEUP, XK_Page_Up},      {SDLK_PAGEDOWN, XK_Page_Down}, {SDLK_LEFT, XK_Left},      {SDLK_RIGHT, XK_Right},
      {SDLK_UP, XK_Up},               {SDLK_DOWN, XK_Down},       {SDLK_F1, XK_F1},             {SDLK_F2, XK_F2},
      {SDLK_F3, XK_F3},               {SDLK_F4, XK_F4},           {SDLK_F5, XK_F5},             {SDLK_F6, XK_F6},
      {SDLK_F7, XK_F7},               {SDLK_F8, XK_F8},           {SDLK_F9, XK_F9},             {SDLK_F10, XK_F10},
      {SDLK_F11, XK_F11},             {SDLK_F12, XK_F12},         {SDLK_LSHIFT, XK_Shift_L},    {SDLK_RSHIFT, XK_Shift_R},
      {SDLK_LCTRL, XK_Control_L},     {SDLK_RCTRL, XK_Control_R}, {SDLK_LALT, XK_Alt_L},        {SDLK_RALT, XK_Alt_R},
      {SDLK_LGUI, XK_Super_L},        {SDLK_RGUI, XK_Super_R},    {SDLK_CAPSLOCK, XK_Caps_Lock}, {SDLK_NUMLOCKCLEAR, XK_Num_Lock},
      {SDLK_PRINTSCREEN, XK_Print},   {SDLK_PAUSE, XK_Pause},     {SDLK_MENU, XK_Menu},         {SDLK_KP_ENTER, XK_KP_Enter},
  };
  auto it = keys.find(key);
  return it == keys.end() ? 0 : it->second;
}

std::vector<std::uint32_t> text_keysyms(std::string_view utf8) {
  std::vector<std::uint32_t> out;
  const std::string text(utf8);
  // SDL's iconv decodes (and rejects malformed UTF-8) instead of a hand-written decoder.
  const char* native = SDL_BYTEORDER == SDL_LIL_ENDIAN ? "UTF-32LE" : "UTF-32BE";
  auto* codes = reinterpret_cast<Uint32*>(SDL_iconv_string(native, "UTF-8", text.c_str(), text.size() + 1));
  if (!codes) return out;
  for (const Uint32* c = codes; *c; ++c) out.push_back(*c < 0x100 ? *c : 0x01000000u + *c);
  SDL_free(codes);
  return out;
}

}  // namespace shadowlink::console
