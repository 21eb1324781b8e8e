#include "services/console/sdl_keys.hpp"

#include <rfb/keysym.h>

#include <catch2/catch.hpp>

using namespace shadowlink::console;

TEST_CASE("typed text becomes Latin-1 keysyms and Unicode keysyms beyond them", "[console]") {
  CHECK(text_keysyms("k") == std::vector<std::uint32_t>{'k'});
  CHECK(text_keysyms("K!") == std::vector<std::uint32_t>{'K', '!'});
  // ä is Latin-1 (its own keysym), € is not (Unicode keysym 0x01000000 + U+20AC).
  CHECK(text_keysyms("\xc3\xa4\xe2\x82\xac") == std::vector<std::uint32_t>{0xe4, 0x010020ac});
  CHECK(text_keysyms("").empty());
  // Malformed UTF-8 (a lone continuation byte) types nothing rather than something wrong.
  CHECK(text_keysyms("\x80").empty());
}

TEST_CASE("keys that type no text have their X keysyms, text keys have none", "[console]") {
  CHECK(special_keysym(SDLK_RETURN) == XK_Return);
  CHECK(special_keysym(SDLK_LEFT) == XK_Left);
  CHECK(special_keysym(SDLK_F5) == XK_F5);
  CHECK(special_keysym(SDLK_LCTRL) == XK_Control_L);
  CHECK(special_keysym(SDLK_a) == 0u);
  CHECK(special_keysym(SDLK_SPACE) == 0u);
}
