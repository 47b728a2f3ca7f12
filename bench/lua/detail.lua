-- GET /products/{id} with ids drawn from a Zipf-skewed list (ids.txt, one per line,
-- popular ids repeated), so caches see realistic skew.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/products/" .. ids[math.random(#ids)] .. "?consistency=eventual")
end
