/* error.h: the graphcomm.error metatable: errors are tables with a kind
 * (validation, http, transport, auth, declined) and a one-line __tostring. */
#ifndef GRAPHCOMM_ERROR_H
#define GRAPHCOMM_ERROR_H

#include "lua/compat.h"

#define GC_ERROR_MT "graphcomm.error"

/* Creates the metatable and sets core.error. */
void gc_open_error(lua_State *L);

#endif
