// libpsl (the Public Suffix List), imported only by GatehouseTLS for the wildcard rule.
#ifndef GATEHOUSE_CPSL_SHIM_H
#define GATEHOUSE_CPSL_SHIM_H
#include <libpsl.h>

/// The ICANN section only (the registries), as the CA/Browser Forum's wildcard rule reads it.
static const int CPSL_TYPE_ICANN = PSL_TYPE_ICANN;
#endif
