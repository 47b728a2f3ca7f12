-- ChangePrice and AdjustStock, alternately, each with a fresh Idempotency-Key.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("BENCH_TOKEN")
local prefix = os.getenv("BENCH_PREFIX") or "k"
local counter = 0
local thread_id = 0
setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
request = function()
  counter = counter + 1
  local id = ids[math.random(#ids)]
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. tostring(tid) .. "-" .. counter,
  }
  if counter % 2 == 0 then
    local body = string.format('{"delta": %d, "reason": "restock"}', math.random(1, 20))
    return wrk.format("POST", "/products/" .. id .. "/stock-adjustments", headers, body)
  end
  local body = string.format('{"price": "%d.%02d"}', math.random(1, 900), math.random(0, 99))
  return wrk.format("PUT", "/products/" .. id .. "/price", headers, body)
end
