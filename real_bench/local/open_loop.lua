-- Open-loop, fixed-rate pacing for wrk, with per-request latency from the intended send time.
--
-- wrk is closed-loop: a connection sends its next request when the previous response arrives.
-- Run it with one connection per thread (-t C -c C): each thread's Lua state then paces its own
-- connection on a fixed schedule (RB_CONNS / RB_RATE seconds apart, connections staggered by
-- 1 / RB_RATE, like fortio -uniform). request() sleeps (clock_nanosleep, 1 us timer slack)
-- until the intended time; if the previous response came late, the next request goes out at
-- once and its latency still counts from its intended time, so a stall is not hidden
-- (coordinated omission). Times are CLOCK_MONOTONIC seconds shared with the Python driver.
--
-- Each thread keeps, per request: intended, sent, done (relative to RB_START, in us) and the
-- HTTP status; done() (main Lua state) writes them all to RB_OUT, one line per request:
-- "<thread> <seq> <intended_us> <sent_us> <done_us or -1> <status or -1>".

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } rb_timespec;
int clock_gettime(int clk_id, rb_timespec *tp);
int clock_nanosleep(int clk_id, int flags, const rb_timespec *req, rb_timespec *rem);
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
]]
local C = ffi.C
local CLOCK_MONOTONIC, TIMER_ABSTIME, PR_SET_TIMERSLACK = 1, 1, 29
local ts = ffi.new("rb_timespec")
local req_ts = ffi.new("rb_timespec")

local function now()
  C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function sleep_until(t)
  local s = math.floor(t)
  req_ts.tv_sec = s
  req_ts.tv_nsec = math.floor((t - s) * 1e9)
  while now() < t do
    C.clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, req_ts, nil)
  end
end

local START = tonumber(os.getenv("RB_START"))
local RATE = tonumber(os.getenv("RB_RATE"))
local CONNS = tonumber(os.getenv("RB_CONNS"))
local PATH = os.getenv("RB_PATH") or "/"

-- main state: remember the threads to collect their records in done()
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- thread state
local interval, next_t, pending, slack_set, req
function init(args)
  interval = CONNS / RATE
  next_t = START + tid / RATE
  seq = 0          -- globals below are read by done() through thread:get
  I, S, D, ST = {}, {}, {}, {}
  req = wrk.format("GET", PATH)
end

function request()
  if not slack_set then
    C.prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    slack_set = true
  end
  local t = next_t
  next_t = next_t + interval
  if t > now() then sleep_until(t) end
  seq = seq + 1
  I[seq] = (t - START) * 1e6
  S[seq] = (now() - START) * 1e6
  D[seq] = -1
  ST[seq] = -1
  pending = seq
  return req
end

function response(status, headers, body)
  local t = now()
  if pending then
    D[pending] = (t - START) * 1e6
    ST[pending] = status
    pending = nil
  end
end

function done(summary, latency, requests)
  local f = assert(io.open(os.getenv("RB_OUT"), "w"))
  local e = summary.errors
  f:write(string.format("# wrk requests=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
  for _, t in ipairs(threads) do
    local id = t:get("tid")
    local n = t:get("seq") or 0
    local i, s, d, st = t:get("I"), t:get("S"), t:get("D"), t:get("ST")
    for k = 1, n do
      f:write(string.format("%d %d %.1f %.1f %.1f %d\n", id, k, i[k], s[k], d[k], st[k]))
    end
  end
  f:close()
end
