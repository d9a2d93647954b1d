-- wrk script for bench/update.lua: the same PATCH, headers and body that graphcomm
-- sends, with nothing computed per request (the ceiling of one connection).
-- BENCH_TOKEN and BENCH_BODY come from the environment.
wrk.method = "PATCH"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["SdkVersion"] = "graphcomm-lua/bench (hostOS=linux; runtimeEnvironment=wrk)"
wrk.headers["User-Agent"] = "graphcomm-lua/bench"
wrk.headers["client-request-id"] = "2b5e0c2c-6a8e-4d8e-9a3c-1f1f2f3f4f5f"
