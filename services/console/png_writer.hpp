#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shadowlink::console {

// Writes 8-bit RGB pixels as a PNG with libpng; throws std::runtime_error naming the file.
void write_png(const std::string& path, int width, int height, std::span<const std::uint8_t> rgb);

}  // namespace shadowlink::console
