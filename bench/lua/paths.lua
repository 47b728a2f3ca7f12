-- GET a path drawn at random from BENCH_PATHS (one per line; repeats give weight).
-- BENCH_DELAY_MS, if set, paces each connection: it waits that long between requests.
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
if pause > 0 then
  delay = function() return pause end
end
