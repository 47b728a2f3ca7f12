-- Open-loop, constant-rate GETs whose latency is corrected for coordinated omission,
-- in the manner of wrk2, with plain wrk (bench/open_loop.py runs it).
--
-- Run with as many threads as connections (wrk -tN -cN): each thread then owns one
-- connection and its own Lua state. Connection i sends on a fixed timetable,
-- t0_i + k * interval with interval = N / BENCH_RATE, and the t0_i are staggered by
-- 1 / BENCH_RATE so the N timetables interleave into one even stream. A request's
-- latency runs from the time it was due, not from when it went out: a server that
-- stalls is charged for every request that fell due meanwhile, which a closed loop
-- (send, wait, send) would simply not have sent.
--
-- Environment: BENCH_RATE (requests/s over all connections), BENCH_CONNECTIONS (the
-- N of -tN -cN), BENCH_WINDOW (seconds of timetable; run wrk a second longer so the
-- answers to the last requests can arrive), BENCH_PATHS (optional: a file of paths,
-- one per line, drawn at random; else the URL's path), BENCH_LEAD_MS (optional, 200:
-- from the start of wrk's threads to the timetable's).
--
-- What this relies on in wrk 4.1 (src/wrk.c, src/script.c, src/ae.c):
-- * delay() is called before each request on a connection (after connecting, and after
--   each complete response) when the script defines it. Its number becomes a uint64_t
--   of milliseconds for an ae timer of millisecond resolution: fractions are dropped,
--   a negative number is not allowed, and the timer may fire up to ~1 ms early. Zero
--   fires in the same turn of the event loop.
-- * request() is called right before a request is written: after delay()'s timer, but
--   also once on the first thread before the run (to check that the request parses),
--   and again, without delay(), to resend after a reconnect.
-- * response(status, headers, body) is called after each complete response that has
--   headers; with one connection per thread it answers this thread's last request.
-- * setup(thread) runs once per thread in the main Lua state, before the thread's
--   init(); thread:set(name, v) sets a global in the thread's state, thread:get(name)
--   copies one out (numbers, strings, tables); done() runs in the main state after
--   every thread has stopped (wrk stops a thread at its next 100 ms tick after -d).

local ffi = require("ffi")
ffi.cdef([[
struct open_loop_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock_id, struct open_loop_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("struct open_loop_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

-- A latency histogram: microseconds exactly below 1,024 us, then 256 buckets per
-- doubling (each within 0.3% of its values). A table of bucket -> count, so that
-- thread:get can copy it out.
local LINEAR = 1024
local STEPS = 256
local LN2 = math.log(2)

local function bucket(us)
  if us < LINEAR then
    return math.floor(us)
  end
  return LINEAR + math.floor(math.log(us / LINEAR) / LN2 * STEPS)
end

local function upper_edge(b)
  if b < LINEAR then
    return b + 1
  end
  return LINEAR * 2 ^ ((b + 1 - LINEAR) / STEPS)
end

local function record(histogram, us)
  local b = bucket(us)
  histogram[b] = (histogram[b] or 0) + 1
end

-- Histograms per second of the timetable, in one flat table (thread:get cannot copy a
-- table of tables): the key of bucket b in second s is s * SPAN + b.
local SPAN = 1000000

local function record_in_second(histograms, from_start_us, us)
  local s = math.max(0, math.floor(from_start_us / 1000000))
  local key = s * SPAN + bucket(us)
  histograms[key] = (histograms[key] or 0) + 1
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
local window = tonumber(os.getenv("BENCH_WINDOW") or "")
assert(rate and connections and window, "BENCH_RATE, BENCH_CONNECTIONS and BENCH_WINDOW are required")
-- From the first setup() to the first due time: the threads start and connect.
local LEAD_US = tonumber(os.getenv("BENCH_LEAD_MS") or "200") * 1000
local IDLE_MS = 60000 -- past the window: wait for wrk to stop the thread

-- The main state: each thread's timetable, and the threads for done().

local threads = {}
local base

function setup(thread)
  assert(#threads < connections, "run wrk with -t and -c equal to BENCH_CONNECTIONS")
  base = base or now_us() + LEAD_US
  thread:set("id", #threads)
  thread:set("timetable_start", base)
  thread:set("t0", base + #threads * 1000000 / rate)
  thread:set("interval", connections * 1000000 / rate)
  thread:set("window_end", base + window * 1000000)
  threads[#threads + 1] = thread
end

-- A thread's state (id, timetable_start, t0, interval and window_end set by setup).

sent = 0 -- timetable slots taken: the next is due at t0 + sent * interval
answered = 0
in_window = 0 -- answered before the window's end
failed = 0 -- answers outside 2xx/3xx
slowest = 0
latency = {} -- from each request's due time
by_second = {} -- the same, per second of the timetable the request fell due in (SPAN)
from_send = {} -- from each request's send, as a closed loop would measure it
send_lag = {} -- how late each request went out: its connection was busy, or the CPU
local requests = {}
local slot -- the due time of the slot taken by the last delay()
local origin -- the request in flight's: its latency is measured from here
local sent_at

function init(args)
  -- wrk.init (which calls this) has set the Host header: format the requests now.
  local source = os.getenv("BENCH_PATHS")
  if source and source ~= "" then
    for line in io.lines(source) do
      if line ~= "" then
        requests[#requests + 1] = wrk.format("GET", line)
      end
    end
  else
    requests[1] = wrk.format("GET")
  end
  -- Seeded apart: threads drawing the same sequence would ask for each path in bursts.
  math.randomseed(os.time() * 1000 + (id or 0))
end

function delay()
  local due = t0 + sent * interval
  if due >= window_end then
    return IDLE_MS
  end
  -- The next slot is taken here, not in request(): the check before the run takes none,
  -- and a resend after a reconnect keeps its slot's due time.
  sent = sent + 1
  slot = due
  local wait = due - now_us()
  if wait <= 0 then
    return 0
  end
  return math.floor(wait / 1000)
end

function request()
  if slot ~= nil then
    sent_at = now_us()
    -- Late: from the due time. Early (the timer's slack): from the send, never crediting
    -- the server with time before the request existed.
    origin = math.min(slot, sent_at)
    record(send_lag, math.max(0, sent_at - slot))
  end
  return requests[math.random(#requests)]
end

function response(status, headers, body)
  if origin == nil then
    return
  end
  local now = now_us()
  local took = now - origin
  record(latency, took)
  record_in_second(by_second, origin - timetable_start, took)
  record(from_send, now - sent_at)
  origin, slot = nil, nil
  if took > slowest then
    slowest = took
  end
  answered = answered + 1
  if now < window_end then
    in_window = in_window + 1
  end
  if status < 200 or status > 399 then
    failed = failed + 1
  end
end

-- The main state again, after the run.

local function merge(into, from)
  for b, count in pairs(from) do
    into[b] = (into[b] or 0) + count
  end
end

local function percentiles(histogram, wanted)
  local keys, total = {}, 0
  for b, count in pairs(histogram) do
    keys[#keys + 1] = b
    total = total + count
  end
  table.sort(keys)
  local out, seen, i = {}, 0, 1
  for _, b in ipairs(keys) do
    seen = seen + histogram[b]
    while i <= #wanted and seen >= wanted[i] / 100 * total do
      out[i] = upper_edge(b) / 1000
      i = i + 1
    end
  end
  for j = i, #wanted do
    out[j] = 0 / 0
  end
  return out
end

function done(summary, wrk_latency, wrk_requests)
  local finished = now_us()
  local all, lags, naive, seconds = {}, {}, {}, {}
  local offered, answered_all, in_window_all, failed_all, unanswered, max_us = 0, 0, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    local t0, interval, window_end = thread:get("t0"), thread:get("interval"), thread:get("window_end")
    local due = 0
    if window_end > t0 then
      due = math.ceil((window_end - t0) / interval)
    end
    local got = thread:get("answered")
    offered = offered + due
    answered_all = answered_all + got
    in_window_all = in_window_all + thread:get("in_window")
    failed_all = failed_all + thread:get("failed")
    max_us = math.max(max_us, thread:get("slowest"))
    merge(all, thread:get("latency"))
    merge(lags, thread:get("send_lag"))
    merge(naive, thread:get("from_send"))
    merge(seconds, thread:get("by_second"))
    -- Requests due in the window but not answered when wrk stopped (never sent, or
    -- still in flight): counted as taking until then.
    for k = got, due - 1 do
      local waited = finished - (t0 + k * interval)
      record(all, waited)
      record_in_second(seconds, t0 + k * interval - base, waited)
      max_us = math.max(max_us, waited)
      unanswered = unanswered + 1
    end
  end
  local p = percentiles(all, { 50, 90, 99, 99.9 })
  local lag = percentiles(lags, { 50, 99 })
  local closed = percentiles(naive, { 50, 99 })
  local fields = {
    { "connections", #threads },
    { "window_s", window },
    { "rate", rate },
    { "scheduled", offered },
    { "answered", answered_all },
    { "unanswered", unanswered },
    { "errors", failed_all },
    { "offered_per_s", offered / window },
    { "answered_in_window", in_window_all },
    { "achieved_per_s", in_window_all / window },
    { "p50_ms", p[1] },
    { "p90_ms", p[2] },
    { "p99_ms", p[3] },
    { "p999_ms", p[4] },
    { "max_ms", max_us / 1000 },
    { "from_send_p50_ms", closed[1] },
    { "from_send_p99_ms", closed[2] },
    { "send_lag_p50_ms", lag[1] },
    { "send_lag_p99_ms", lag[2] },
  }
  io.write("Open loop (latency from each request's due time):\n")
  io.write(string.format("  offered  %.1f req/s (%d due in %g s over %d connections)\n",
    offered / window, offered, window, #threads))
  io.write(string.format("  achieved %.1f req/s (answered in the window; %d in all, %d never, %d non-2xx/3xx)\n",
    in_window_all / window, answered_all, unanswered, failed_all))
  io.write(string.format("  latency  p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
    p[1], p[2], p[3], p[4], max_us / 1000))
  io.write(string.format("  sent late by p50 %.3f ms, p99 %.3f ms\n", lag[1], lag[2]))
  io.write(string.format("  from the send (uncorrected): p50 %.3f ms, p99 %.3f ms\n", closed[1], closed[2]))
  local json = {}
  for i, field in ipairs(fields) do
    local v = field[2]
    json[i] = string.format('"%s": %s', field[1], v ~= v and "null" or string.format("%.17g", v))
  end
  -- The p99 of each second of the timetable: a stall shows in the seconds it held up.
  local split = {}
  for key, count in pairs(seconds) do
    local s = math.floor(key / SPAN)
    split[s] = split[s] or {}
    split[s][key - s * SPAN] = count
  end
  local per_second = {}
  for s = 0, math.ceil(window) - 1 do
    local q = percentiles(split[s] or {}, { 99 })[1]
    per_second[#per_second + 1] = q ~= q and "null" or string.format("%.17g", q)
  end
  json[#json + 1] = '"p99_by_second_ms": [' .. table.concat(per_second, ", ") .. "]"
  io.write("open-loop-json {" .. table.concat(json, ", ") .. "}\n")
end
