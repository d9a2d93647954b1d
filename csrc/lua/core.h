/* core.h: each concern of graphcomm.core adds its functions to the module table. */
#ifndef GRAPHCOMM_CORE_H
#define GRAPHCOMM_CORE_H

#include "lua/compat.h"

/* Each takes the module table at the top of the stack and leaves the stack as it was. */
typedef void (*gc_opener)(lua_State *L);

#endif
