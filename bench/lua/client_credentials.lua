-- POST /token, grant_type=client_credentials, client_secret_basic.
-- BENCH_BASIC: base64 of "client_id:client_secret"; BENCH_BODY: the form body
-- (the reference adds resource=... to choose the token's signing algorithm).
-- The request never changes, so wrk builds it once.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
