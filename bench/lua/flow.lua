-- The authorization-code flow of a signed-in user, as a relying party runs it:
--   GET /authorize (session cookie, PKCE S256)  -> 302/303 to the redirect URI with a code
--   POST /token (code + code_verifier, client_secret_basic) -> access and ID token
--   GET /userinfo (Bearer access token)          -> 200: one completed flow
--
-- wrk does not tie a response to the next request of the same connection, so the
-- steps are chained through two queues shared by the connections of the (single)
-- load thread: a code from any authorize response is redeemed by the next free
-- connection, an access token from any token response is used at userinfo next.
-- Finishing flows comes first, so at most about one flow per connection is open and
-- every code is redeemed within milliseconds (codes live 60 s).
-- The PKCE verifier is the same for every flow; the server still checks it each time.
-- BENCH_COOKIES holds one session per line (several users signed in); authorize
-- requests take them in turn, as many users would.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

flows, broken = 0, 0
local codes, tokens = {}, {}
local authorize_requests, next_session = {}, 1
local token_path, token_headers, token_body_prefix, userinfo_path

function init(args)
  for cookie in os.getenv("BENCH_COOKIES"):gmatch("[^\n]+") do
    table.insert(authorize_requests, wrk.format("GET", os.getenv("BENCH_AUTHORIZE"), { Cookie = cookie }))
  end
  token_headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    Authorization = "Basic " .. os.getenv("BENCH_BASIC"),
  }
  token_body_prefix = "grant_type=authorization_code&redirect_uri="
    .. os.getenv("BENCH_REDIRECT_URI_ENCODED")
    .. "&code_verifier=" .. os.getenv("BENCH_VERIFIER") .. "&code="
  token_path = os.getenv("BENCH_TOKEN_PATH")
  userinfo_path = os.getenv("BENCH_USERINFO_PATH")
end

function request()
  local token = table.remove(tokens)
  if token then
    return wrk.format("GET", userinfo_path, { Authorization = "Bearer " .. token })
  end
  local code = table.remove(codes)
  if code then
    return wrk.format("POST", token_path, token_headers, token_body_prefix .. code)
  end
  next_session = next_session % #authorize_requests + 1
  return authorize_requests[next_session]
end

function response(status, headers, body)
  if status == 302 or status == 303 then
    local location = headers["Location"] or headers["location"] or ""
    local code = location:match("[?&]code=([^&#]+)")
    if code then
      table.insert(codes, code)
    else
      broken = broken + 1 -- e.g. sent to a login page: the session is gone
    end
  elseif status == 200 then
    local access = body:match('"access_token"%s*:%s*"([^"]+)"')
    if access then
      table.insert(tokens, access)
    elseif body:match('"sub"') then
      flows = flows + 1
    else
      broken = broken + 1
    end
  else
    broken = broken + 1
  end
end
