// giflib, used to write animated GIFs.
#ifndef NCA_CGIF_SHIM_H
#define NCA_CGIF_SHIM_H
#include <gif_lib.h>
static const int nca_gif_application_ext = APPLICATION_EXT_FUNC_CODE;
static const int nca_gif_graphics_ext = GRAPHICS_EXT_FUNC_CODE;
#endif
