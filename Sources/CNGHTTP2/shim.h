#ifndef GATEHOUSE_CNGHTTP2_SHIM_H
#define GATEHOUSE_CNGHTTP2_SHIM_H
// nghttp2 1.52 imports almost whole; only NGHTTP2_INITIAL_WINDOW_SIZE is a macro Swift cannot see
// through (it is an expression, not a literal).
#include <nghttp2/nghttp2.h>

static inline int32_t CNGHTTP2_initial_window_size(void) { return NGHTTP2_INITIAL_WINDOW_SIZE; }

#endif
