// libpng's simplified API (png_image_*), used to encode and decode PNG files in memory.
#ifndef NCA_CPNG_SHIM_H
#define NCA_CPNG_SHIM_H
#include <png.h>
static const unsigned int nca_png_format_rgb = PNG_FORMAT_RGB;
static const unsigned int nca_png_format_rgba = PNG_FORMAT_RGBA;
static const unsigned int nca_png_format_linear_rgba = PNG_FORMAT_LINEAR_RGB_ALPHA;
static const unsigned int nca_png_format_flag_linear = PNG_FORMAT_FLAG_LINEAR;
static const unsigned int nca_png_image_version = PNG_IMAGE_VERSION;
#endif
