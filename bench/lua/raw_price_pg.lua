-- PUT /raw-price-pg/{id}: the baseline route running the pgbench write transaction.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
request = function()
  local body = string.format('{"price": "%d.%02d"}', math.random(1, 900), math.random(0, 99))
  return wrk.format("PUT", "/raw-price-pg/" .. ids[math.random(#ids)],
    {["Content-Type"] = "application/json"}, body)
end
