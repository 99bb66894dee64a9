-- GET /api/authz/forward-auth as Traefik or Caddy sends it for a browser's page
-- request: the original request in X-Forwarded-*, the browser's Accept and, when
-- BENCH_COOKIE is set, its Cookie header (latchkey_proxy=…). BENCH_HOST is the
-- application's host (X-Forwarded-Host), BENCH_URI the path (default /some/path).
-- No response() callback: it would cost wrk a Lua call per answer, which the
-- /healthz runs it is compared with do not pay; bench/proxy checks the answers with
-- curl between runs and counts statuses from wrk's summary.
wrk.method = "GET"
wrk.headers["X-Forwarded-Method"] = "GET"
wrk.headers["X-Forwarded-Proto"] = "https"
wrk.headers["X-Forwarded-Host"] = os.getenv("BENCH_HOST") or "app.example.test"
wrk.headers["X-Forwarded-Uri"] = os.getenv("BENCH_URI") or "/some/path"
wrk.headers["Accept"] = "text/html"
local cookie = os.getenv("BENCH_COOKIE") or ""
if cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
