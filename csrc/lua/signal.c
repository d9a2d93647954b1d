/* signal.c: Ctrl-C for long runs (`graphcomm apply`). Lua cannot run in a signal
 * handler, so the handler only sets a flag that Lua polls between items:
 *   core.sigint_catch()    installs the handler (the previous one is kept)
 *   core.sigint_pending()  -> true once SIGINT arrived since sigint_catch
 *   core.sigint_release()  puts the previous handler back
 * A second SIGINT while one is pending ends the process as SIGINT does (the user
 * insists: nothing waits for the requests in flight). */
#include <signal.h>
#include <string.h>
#include "lua/core.h"

void gc_open_signal(lua_State *L);

static volatile sig_atomic_t pending = 0;
static struct sigaction previous;
static int caught = 0;

static void on_sigint(int sig)
{
    if (pending) {
        signal(sig, SIG_DFL);        /* async-signal-safe, as is raise */
        raise(sig);
        return;
    }
    pending = 1;
}

static int l_sigint_catch(lua_State *L)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    pending = 0;
    if (!caught) {
        if (sigaction(SIGINT, &sa, &previous) != 0)
            return luaL_error(L, "graphcomm: cannot catch SIGINT");
        caught = 1;
    }
    return 0;
}

static int l_sigint_pending(lua_State *L)
{
    lua_pushboolean(L, pending != 0);
    return 1;
}

static int l_sigint_release(lua_State *L)
{
    (void)L;
    if (caught) {
        sigaction(SIGINT, &previous, NULL);
        caught = 0;
    }
    pending = 0;
    return 0;
}

static const luaL_Reg signal_funcs[] = {
    { "sigint_catch", l_sigint_catch },
    { "sigint_pending", l_sigint_pending },
    { "sigint_release", l_sigint_release },
    { NULL, NULL }
};

void gc_open_signal(lua_State *L)
{
    gc_setfuncs(L, signal_funcs);
}
