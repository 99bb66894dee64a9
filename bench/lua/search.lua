-- GET /api/v1/users?search=PREFIX with an administrator's API key, as the admin
-- console's search box asks while someone types a name: a random three-letter prefix
-- of a first name, a last name or a username, so that each search matches from a
-- handful to a few thousand users (with 100 000) and the first page of 50 comes back.
-- BENCH_API_KEY: the key (lk_…).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local prefixes = {
  -- first names, last names (bench/seed.sql), and the benchmark's own users
  "ali", "bru", "chi", "dmi", "ele", "far", "gre", "hir", "ine", "jon", "kem", "len", "mar",
  "nad", "osk", "pri", "que", "ros", "sve", "tar", "urs", "vik", "wan", "xav", "yar", "zol",
  "ami", "cam", "die", "est", "fel", "and", "bau", "cos", "dub", "eri", "fis", "han", "iva",
  "jan", "kow", "lin", "mor", "nov", "oka", "pet", "qui", "sch", "tan", "ued", "var", "web",
  "yil", "zim", "alm", "ber", "che", "dah", "hor", "lar", "now", "ben",
}
local requests = {}

function init(args)
  local headers = { Authorization = "Bearer " .. os.getenv("BENCH_API_KEY") }
  for _, p in ipairs(prefixes) do
    table.insert(requests, wrk.format("GET", "/api/v1/users?search=" .. p, headers))
  end
  math.randomseed(os.time())
end

function request()
  return requests[math.random(#requests)]
end
