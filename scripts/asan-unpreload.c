/* asan-unpreload.c: preloaded after libasan into the interpreter of make
 * check's ASan pass (scripts/check asan). It takes LD_PRELOAD out of the
 * environment once the sanitizer is in, so the programs the specs start
 * (curl, ps, nginx, openssl...) run without it: some of them hang under it,
 * and they are not what is being checked. Lua interpreters started by name
 * find scripts/check's wrapper first in PATH, which preloads both again. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

__attribute__((constructor)) static void unpreload(void)
{
    unsetenv("LD_PRELOAD");
}
