-- The limiter's shared-dict store across nginx workers: a private nginx (Debian's, with
-- libnginx-mod-http-lua) with two workers and a lua_shared_dict; every request on a
-- connection of its own (reuseport spreads them over both workers) asks the limiter of
-- its worker for one request of a 40-per-minute scope. Together they grant exactly 40.
local emu = require "helpers.emulator"
local bulk = require "helpers.bulk"

local CONF = [[
worker_processes 2;
daemon on;
master_process on;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;
@USER@
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path @DIR@/tmp;
  proxy_temp_path @DIR@/tmp;
  fastcgi_temp_path @DIR@/tmp;
  uwsgi_temp_path @DIR@/tmp;
  scgi_temp_path @DIR@/tmp;
  lua_package_path "@DIR@/lua/?.lua;;";
  lua_package_cpath "@DIR@/lib/?.so;;";
  lua_shared_dict graphcomm_limits 1m;
  server {
    listen 127.0.0.1:@PORT@ reuseport;
    location = /take {
      content_by_lua_block {
        local limiter = require "graphcomm.limiter"
        local options = require "graphcomm.options"
        local lim = package.loaded.the_limiter
        if not lim then
          lim = limiter.new(assert(limiter.config({ shared_dict = "graphcomm_limits",
            app_tenant = { requests = 40, per = 60 } }, "https://graph.microsoft.com", {},
            options.check)))
          package.loaded.the_limiter = lim
        end
        local g = lim:take(lim:keys({ method = "PATCH" }), 1)
        ngx.say("worker ", ngx.worker.id(), " granted ", g)
      }
    }
  }
}
]]

describe("limits shared by nginx workers", function()
  local dir, port

  setup(function()
    assert.equal(0, (emu.sh("cd " .. emu.shell_quote(emu.root) .. " && make -s LUA=luajit")))
    dir = bulk.tmpdir()
    local root = emu.root
    assert.equal(0, (emu.sh(("mkdir -p %s/lua/graphcomm %s/lib/graphcomm %s/tmp && cp %s/lua/graphcomm.lua %s/lua/ && "
      .. "cp %s/lua/graphcomm/*.lua %s/lua/graphcomm/ && cp %s/build/luajit/graphcomm/core.so %s/lib/graphcomm/ && "
      .. "chmod -R a+rX %s"):format(dir, dir, dir, root, dir, root, dir, root, dir, dir))))
    local user = ""
    local _, id = emu.sh("id -u")
    if id:match("^0") then user = "user nobody nogroup;" end
    local rc, out
    for _ = 1, 10 do      -- a free port: nginx says when it is not
      port = 20000 + math.random(0, 9000)
      local conf = CONF:gsub("@DIR@", dir):gsub("@PORT@", tostring(port)):gsub("@USER@", user)
      local f = assert(io.open(dir .. "/nginx.conf", "w"))
      f:write(conf)
      f:close()
      rc, out = emu.sh("chmod 755 " .. emu.shell_quote(dir) .. " && /usr/sbin/nginx -p "
        .. emu.shell_quote(dir) .. " -c " .. emu.shell_quote(dir .. "/nginx.conf"))
      if rc == 0 or not out:find("in use", 1, true) then break end
    end
    assert.equal(0, rc, out)
  end)

  teardown(function()
    local pid = emu.shell_quote(dir .. "/nginx.pid")
    emu.sh("kill $(cat " .. pid .. ") 2>/dev/null; for i in $(seq 1 100); do [ -f " .. pid
      .. " ] || break; sleep 0.05; done")
    bulk.rmdir(dir)
  end)

  it("grants the limit once, whichever worker asks", function()
    local cfg = dir .. "/curl.cfg"
    local f = assert(io.open(cfg, "w"))
    for _ = 1, 60 do
      f:write(('url = "http://127.0.0.1:%d/take"\nheader = "Connection: close"\n'):format(port))
    end
    f:close()
    local rc, out = emu.sh(("for k in 1 2; do curl -s --retry 5 --retry-connrefused -K %s & done; wait")
      :format(emu.shell_quote(cfg)))
    assert.equal(0, rc, out)
    local granted, asked, workers = 0, 0, {}
    for w, g in out:gmatch("worker (%d+) granted (%d+)") do
      asked = asked + 1
      granted = granted + tonumber(g)
      workers[w] = true
    end
    assert.equal(120, asked, out)
    assert.equal(40, granted)
    assert.is_true(workers["0"] and workers["1"], "both workers answered")
  end)
end)
