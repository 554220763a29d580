#ifndef GATEHOUSE_CPCRE2_SHIM_H
#define GATEHOUSE_CPCRE2_SHIM_H
// PCRE2 names its functions by code-unit width through macros (pcre2_compile -> pcre2_compile_8)
// that Swift cannot import; Gatehouse uses the 8-bit library only and calls the `_8` names.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

// PCRE2_ZERO_TERMINATED and PCRE2_UNSET are cast expressions, not importable constants.
static inline size_t CPCRE2_zero_terminated(void) { return PCRE2_ZERO_TERMINATED; }

#endif
