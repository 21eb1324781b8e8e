// png_probe FILE X Y [R G B]: prints the pixel's colour; with an expected colour, exits 1 unless it
// matches (each channel within 16). Used by the end-to-end tests to check captured screens.
#include <png.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4 && argc != 7) {
    std::fprintf(stderr, "usage: png_probe FILE X Y [R G B]\n");
    return 2;
  }
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, argv[1])) {
    std::fprintf(stderr, "png_probe: cannot read %s: %s\n", argv[1], img.message);
    return 2;
  }
  img.format = PNG_FORMAT_RGB;
  std::vector<unsigned char> px(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, px.data(), 0, nullptr)) {
    std::fprintf(stderr, "png_probe: cannot decode %s: %s\n", argv[1], img.message);
    return 2;
  }
  unsigned x = static_cast<unsigned>(std::atoi(argv[2])), y = static_cast<unsigned>(std::atoi(argv[3]));
  if (x >= img.width || y >= img.height) {
    std::fprintf(stderr, "png_probe: (%u,%u) is outside the %ux%u image\n", x, y, img.width, img.height);
    return 2;
  }
  const unsigned char* p = &px[(static_cast<std::size_t>(y) * img.width + x) * 3];
  std::printf("%d %d %d\n", p[0], p[1], p[2]);
  if (argc == 7)
    for (int c = 0; c < 3; ++c)
      if (std::abs(p[c] - std::atoi(argv[4 + c])) > 16) return 1;
  return 0;
}
