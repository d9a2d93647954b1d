/* privfile.c: files only their owner may read, for the token cache.
 *
 *   core.private_stat(path) -> kind, private | nil, err
 *       kind "file", "dir", "missing" or "other" (a symlink, a device...); private is
 *       true when it belongs to this user and no one else may read or write it
 *   core.mkdir_private(path) -> true | nil, err        mode 0700 (an existing one is fine)
 *   core.write_private(path, data) -> true | nil, err  mode 0600, written to a temporary
 *       file beside it then renamed over it, so that a reader never sees half of it */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lua/core.h"

void gc_open_privfile(lua_State *L);

static int fail_errno(lua_State *L, const char *what, const char *path)
{
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, strerror(e));
    return 2;
}

static int l_private_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            lua_pushliteral(L, "missing");
            lua_pushboolean(L, 1);
            return 2;
        }
        return fail_errno(L, "cannot stat", path);
    }
    if (S_ISREG(st.st_mode))
        lua_pushliteral(L, "file");
    else if (S_ISDIR(st.st_mode))
        lua_pushliteral(L, "dir");
    else
        lua_pushliteral(L, "other");
    lua_pushboolean(L, st.st_uid == geteuid() && (st.st_mode & 077) == 0);
    return 2;
}

static int l_mkdir_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return fail_errno(L, "cannot create", path);
    lua_pushboolean(L, 1);
    return 1;
}

/* Writes all of data to fd; 0 on success. */
static int write_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

static int l_write_private(lua_State *L)
{
    size_t n, plen;
    const char *path = luaL_checklstring(L, 1, &plen);
    const char *data = luaL_checklstring(L, 2, &n);
    char *tmp = (char *)lua_newuserdata(L, plen + 8);
    int fd, ok;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);
    fd = mkstemp(tmp);              /* mode 0600 */
    if (fd < 0)
        return fail_errno(L, "cannot create a file beside", path);
    ok = fchmod(fd, 0600) == 0 && write_all(fd, data, n) == 0;
    if (close(fd) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return fail_errno(L, "cannot write", path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg privfile_funcs[] = {
    { "private_stat", l_private_stat },
    { "mkdir_private", l_mkdir_private },
    { "write_private", l_write_private },
    { NULL, NULL }
};

void gc_open_privfile(lua_State *L)
{
    gc_setfuncs(L, privfile_funcs);
}
