-- graphcomm-scm-1.rockspec: `luarocks make --deps-mode=none graphcomm-scm-1.rockspec`
-- (add `--lua-version 5.4` or 5.1 to pick the Lua). The versioned rockspec,
-- graphcomm-<version>-1.rockspec, is written from this one by scripts/gen-rockspec.lua
-- (`make rockspec`): edit this file, then run that. Debian puts curl/curl.h in a
-- multiarch folder luarocks does not search, so the external dependencies are
-- checked by library, not by header.
--
-- The builtin backend takes no globs: the C sources and Lua modules are listed
-- below. Keep them in step with csrc/*/*.c and lua/graphcomm/*.lua (a spec,
-- spec/rockspec_spec.lua, fails when a file is missing from this list).
rockspec_format = "3.0"
package = "graphcomm"
version = "scm-1"
source = {
  url = "git+https://example.invalid/graphcomm.git",   -- no public home yet: build with `luarocks make`
}
description = {
  summary = "Update Microsoft Graph call-record sessions from Lua (schema-validated JSON in C, libcurl)",
  detailed = [[
graphcomm does the job of the PowerShell cmdlet Update-MgCommunicationCallRecordSession:
Lua tables are validated against the call-records schema and written as the JSON
body in one pass in C, and sent with libcurl (or through OpenResty). It also reads
call records, diffs sessions and applies fixes in bulk.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}
external_dependencies = {
  CURL = { library = "curl" },
  CRYPTO = { library = "crypto" },
  ZLIB = { library = "z" },
}
test = { type = "busted" }
build = {
  type = "builtin",
  modules = {
    ["graphcomm.core"] = {
      sources = {
        "csrc/crypto/digest.c", "csrc/crypto/jwt.c", "csrc/crypto/privfile.c",
        "csrc/http/events.c", "csrc/http/gzip.c", "csrc/http/http.c", "csrc/http/multi.c",
        "csrc/http/response.c", "csrc/http/transfer.c",
        "csrc/json/anyjson.c", "csrc/json/datetime.c", "csrc/json/encode.c", "csrc/json/entries.c",
        "csrc/json/jsonbuf.c", "csrc/json/number.c", "csrc/json/readback.c", "csrc/json/scalar.c",
        "csrc/json/schema.c", "csrc/json/schemainfo.c", "csrc/json/timespan.c", "csrc/json/walkerr.c",
        "csrc/lua/compat.c", "csrc/lua/core.c", "csrc/lua/error.c", "csrc/lua/flock.c",
        "csrc/lua/handle.c", "csrc/lua/signal.c", "csrc/lua/util.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl", "crypto", "z" },
      incdirs = { "csrc", "$(CURL_INCDIR)", "$(CRYPTO_INCDIR)", "$(ZLIB_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(CRYPTO_LIBDIR)", "$(ZLIB_LIBDIR)" },
    },
    ["graphcomm"] = "lua/graphcomm.lua",
    ["graphcomm.auth"] = "lua/graphcomm/auth.lua",
    ["graphcomm.auth_cache"] = "lua/graphcomm/auth_cache.lua",
    ["graphcomm.auth_cert"] = "lua/graphcomm/auth_cert.lua",
    ["graphcomm.auth_chain"] = "lua/graphcomm/auth_chain.lua",
    ["graphcomm.auth_cli"] = "lua/graphcomm/auth_cli.lua",
    ["graphcomm.auth_endpoint"] = "lua/graphcomm/auth_endpoint.lua",
    ["graphcomm.auth_federated"] = "lua/graphcomm/auth_federated.lua",
    ["graphcomm.auth_managed"] = "lua/graphcomm/auth_managed.lua",
    ["graphcomm.auth_util"] = "lua/graphcomm/auth_util.lua",
    ["graphcomm.bulk"] = "lua/graphcomm/bulk.lua",
    ["graphcomm.cli.apply"] = "lua/graphcomm/cli/apply.lua",
    ["graphcomm.cli.args"] = "lua/graphcomm/cli/args.lua",
    ["graphcomm.cli.completion"] = "lua/graphcomm/cli/completion.lua",
    ["graphcomm.cli.context"] = "lua/graphcomm/cli/context.lua",
    ["graphcomm.cli.diff"] = "lua/graphcomm/cli/diff.lua",
    ["graphcomm.cli.emulator"] = "lua/graphcomm/cli/emulator.lua",
    ["graphcomm.cli.fixes"] = "lua/graphcomm/cli/fixes.lua",
    ["graphcomm.cli.get"] = "lua/graphcomm/cli/get.lua",
    ["graphcomm.cli.list"] = "lua/graphcomm/cli/list.lua",
    ["graphcomm.cli.main"] = "lua/graphcomm/cli/main.lua",
    ["graphcomm.cli.output"] = "lua/graphcomm/cli/output.lua",
    ["graphcomm.cli.progress"] = "lua/graphcomm/cli/progress.lua",
    ["graphcomm.cli.report"] = "lua/graphcomm/cli/report.lua",
    ["graphcomm.cli.setpath"] = "lua/graphcomm/cli/setpath.lua",
    ["graphcomm.cli.update"] = "lua/graphcomm/cli/update.lua",
    ["graphcomm.client"] = "lua/graphcomm/client.lua",
    ["graphcomm.debug"] = "lua/graphcomm/debug.lua",
    ["graphcomm.diff"] = "lua/graphcomm/diff.lua",
    ["graphcomm.engine"] = "lua/graphcomm/engine.lua",
    ["graphcomm.fixcmd"] = "lua/graphcomm/fixcmd.lua",
    ["graphcomm.errors"] = "lua/graphcomm/errors.lua",
    ["graphcomm.journal"] = "lua/graphcomm/journal.lua",
    ["graphcomm.lines"] = "lua/graphcomm/lines.lua",
    ["graphcomm.limiter"] = "lua/graphcomm/limiter.lua",
    ["graphcomm.limiter_store"] = "lua/graphcomm/limiter_store.lua",
    ["graphcomm.json"] = "lua/graphcomm/json.lua",
    ["graphcomm.keeper"] = "lua/graphcomm/keeper.lua",
    ["graphcomm.launch"] = "lua/graphcomm/launch.lua",
    ["graphcomm.ngx"] = "lua/graphcomm/ngx.lua",
    ["graphcomm.notify"] = "lua/graphcomm/notify.lua",
    ["graphcomm.options"] = "lua/graphcomm/options.lua",
    ["graphcomm.pacer"] = "lua/graphcomm/pacer.lua",
    ["graphcomm.params"] = "lua/graphcomm/params.lua",
    ["graphcomm.read"] = "lua/graphcomm/read.lua",
    ["graphcomm.redact"] = "lua/graphcomm/redact.lua",
    ["graphcomm.redirect"] = "lua/graphcomm/redirect.lua",
    ["graphcomm.request"] = "lua/graphcomm/request.lua",
    ["graphcomm.response"] = "lua/graphcomm/response.lua",
    ["graphcomm.rules"] = "lua/graphcomm/rules.lua",
    ["graphcomm.retry"] = "lua/graphcomm/retry.lua",
    ["graphcomm.serial"] = "lua/graphcomm/serial.lua",
    ["graphcomm.subscriptions"] = "lua/graphcomm/subscriptions.lua",
    ["graphcomm.transport"] = "lua/graphcomm/transport.lua",
    ["graphcomm.version"] = "lua/graphcomm/version.lua",
  },
  install = {
    bin = { graphcomm = "bin/graphcomm" },
    -- The LuaLS definitions (docs/editor-types.md), where `make install` puts them too:
    -- <tree>/share/lua/<version>/graphcomm/types/graphcomm.lua.
    lua = { ["graphcomm.types.graphcomm"] = "types/graphcomm.lua" },
  },
  -- The emulator (`graphcomm emulator`): luarocks copies it into the rock's folder,
  -- <tree>/lib/luarocks/rocks-<lua>/graphcomm/<version>/emulator, beside the rock's
  -- bin/graphcomm, where the command looks for it (../emulator); reference/ (the metadata
  -- its schema is read from) goes beside it, where emulator/start finds it (../reference).
  copy_directories = { "emulator", "reference" },
}
