#ifndef GATEHOUSE_CZLIB_SHIM_H
#define GATEHOUSE_CZLIB_SHIM_H
// deflateInit2/inflateInit2 are macros that pass ZLIB_VERSION and sizeof(z_stream); Swift cannot
// import function-like macros, so these wrappers expose them as ordinary functions.
#include <zlib.h>

static inline int CZlib_deflateInit2(z_streamp strm, int level, int method, int windowBits,
                                     int memLevel, int strategy) {
    return deflateInit2(strm, level, method, windowBits, memLevel, strategy);
}

static inline int CZlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}

#endif
