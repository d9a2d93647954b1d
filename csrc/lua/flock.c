/* flock.c: a small state file shared by the processes of one user on one machine,
 * under an exclusive flock(2) (graphcomm.limiter_store's "file" store).
 *
 *   core.flock(path) -> f | nil, message
 *     opened read-write, created 0600 when missing; refused when it is a symbolic link,
 *     not a regular file, or owned by another user (a file someone else planted)
 *   f:lock() -> true | nil, message     exclusive, blocking (released when the process dies)
 *   f:unlock()
 *   f:read() -> string                  the whole file (at most MAX_STATE bytes)
 *   f:write(s) -> true | nil, message   replaces the contents
 *   f:close()                           = __gc = __close, idempotent
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lua/core.h"

void gc_open_flock(lua_State *L);

#define FLOCK_MT "graphcomm.flock"
#define MAX_STATE (1024 * 1024)

typedef struct {
    int fd;
    int locked;
} gc_flock;

static gc_flock *check_open(lua_State *L)
{
    gc_flock *f = luaL_checkudata(L, 1, FLOCK_MT);
    if (f->fd < 0)
        luaL_error(L, "graphcomm: the state file is closed");
    return f;
}

static int fail(lua_State *L, const char *what, const char *path, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, strerror(err));
    return 2;
}

static int l_flock(lua_State *L)
{
    size_t len;
    const char *path;
    struct stat st;
    gc_flock *f;
    int fd;
    luaL_checktype(L, 1, LUA_TSTRING);       /* not a number turned into a file name */
    path = lua_tolstring(L, 1, &len);
    if (len == 0 || strlen(path) != len)
        return luaL_argerror(L, 1, "a path without NUL bytes expected");
    f = lua_newuserdata(L, sizeof *f);    /* before open: no descriptor leaks on a raise */
    f->fd = -1;
    f->locked = 0;
    gc_setmetatable(L, FLOCK_MT);
    do
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return fail(L, "cannot open the state file", path, errno);
    f->fd = fd;
    if (fstat(fd, &st) != 0)
        return fail(L, "cannot stat the state file", path, errno);
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        f->fd = -1;
        lua_pushnil(L);
        lua_pushfstring(L, "refusing the state file %s: not a regular file of this user", path);
        return 2;
    }
    return 1;
}

static int l_lock(lua_State *L)
{
    gc_flock *f = check_open(L);
    int rc;
    do
        rc = flock(f->fd, LOCK_EX);
    while (rc != 0 && errno == EINTR);
    if (rc != 0)
        return fail(L, "cannot lock", "the state file", errno);
    f->locked = 1;
    lua_pushboolean(L, 1);
    return 1;
}

static int l_unlock(lua_State *L)
{
    gc_flock *f = check_open(L);
    if (f->locked)
        flock(f->fd, LOCK_UN);
    f->locked = 0;
    return 0;
}

static int l_read(lua_State *L)
{
    gc_flock *f = check_open(L);
    luaL_Buffer b;
    off_t at = 0;
    luaL_buffinit(L, &b);
    while (at < MAX_STATE) {
        char *p = luaL_prepbuffer(&b);
        ssize_t n = pread(f->fd, p, LUAL_BUFFERSIZE, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        luaL_addsize(&b, (size_t)n);
        at += n;
    }
    luaL_pushresult(&b);
    return 1;
}

static int l_write(lua_State *L)
{
    gc_flock *f = check_open(L);
    size_t len, done = 0;
    const char *s = luaL_checklstring(L, 2, &len);
    if (len > MAX_STATE)
        return luaL_argerror(L, 2, "state larger than 1 MiB");
    while (done < len) {
        ssize_t n = pwrite(f->fd, s + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail(L, "cannot write", "the state file", n < 0 ? errno : EIO);
        done += (size_t)n;
    }
    if (ftruncate(f->fd, (off_t)len) != 0)
        return fail(L, "cannot truncate", "the state file", errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* close, __gc and __close: one idempotent function (closing drops the lock). */
static int l_close(lua_State *L)
{
    gc_flock *f = luaL_checkudata(L, 1, FLOCK_MT);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    f->locked = 0;
    return 0;
}

static const luaL_Reg flock_methods[] = {
    { "lock", l_lock },
    { "unlock", l_unlock },
    { "read", l_read },
    { "write", l_write },
    { "close", l_close },
    { NULL, NULL }
};

static const luaL_Reg flock_meta[] = {
    { "__gc", l_close },
    { "__close", l_close },
    { NULL, NULL }
};

void gc_open_flock(lua_State *L)
{
    gc_new_class(L, FLOCK_MT, flock_meta, flock_methods);
    lua_pushcfunction(L, l_flock);
    lua_setfield(L, -2, "flock");
}
