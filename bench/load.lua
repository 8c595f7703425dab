-- wrk script for bench/load.sh: requests that need a bearer token, distinct
-- paths or a growing counter, and one parseable result line.
--
--   wrk -t2 -c32 -d10s -s bench/load.lua URL -- MODE FILE THREADS
--
-- FILE has one request per line: `TOKEN PATH` (TOKEN `-` sends no
-- Authorization header). Lines are dealt to the threads round-robin, so the
-- threads never share a line. MODE:
--   cycle      each thread sends its lines in turn, again and again;
--   once       each line is sent once; a thread stops when its lines are spent,
--              so a "first fetch" is never a repeat (each connection's last
--              request is a /healthz); when all threads stopped early, the
--              duration printed is how long they ran, not wrk's -d;
--   heartbeat  POST to each line's path in turn with a report whose `seq`
--              grows per line (per session), as a player's do.
-- Non-2xx/3xx answers are counted by wrk as status errors.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } mist_timespec;
int clock_gettime(int clock, mist_timespec *tp);
]]
local CLOCK_MONOTONIC = 1

local function now_us()
    local t = ffi.new("mist_timespec")
    ffi.C.clock_gettime(CLOCK_MONOTONIC, t)
    return tonumber(t.tv_sec) * 1e6 + tonumber(t.tv_nsec) / 1e3
end

local threads = {}

function setup(thread)
    thread:set("thread_index", #threads)
    threads[#threads + 1] = thread
end

-- When a `once` thread ran out of lines: how long it ran, in µs (wrk itself
-- always reports the full duration).
started_us = nil
spent_after_us = nil

local mode
local lines = {}
local prebuilt = {}
local seqs = {}
local next_line = 0

local function headers_for(token)
    local h = {}
    if token ~= "-" then
        h["Authorization"] = "Bearer " .. token
    end
    return h
end

function init(args)
    mode = args[1]
    local file, threads = args[2], tonumber(args[3])
    local all = {}
    for line in io.lines(file) do
        local token, path = line:match("^(%S+)%s+(%S+)$")
        if token then
            all[#all + 1] = { token, path }
        end
    end
    for n, l in ipairs(all) do
        if (n - 1) % threads == thread_index then
            lines[#lines + 1] = l
        end
    end
    -- Fewer lines than threads (one segment, one path): repeating is the
    -- point of `cycle`, so every thread sends them all; `once` must not.
    if #lines == 0 and mode ~= "once" then
        lines = all
    end
    if #all == 0 then
        error("bench/load.lua: no requests in " .. file)
    end
    if mode ~= "heartbeat" then
        for n, l in ipairs(lines) do
            prebuilt[n] = wrk.format("GET", l[2], headers_for(l[1]))
        end
    end
end

-- A player's progress report (docs/api.md, "Playback and quota").
local function heartbeat_body(seq)
    return string.format('{"seq":%d,"position_s":%.3f,"playing":true}', seq, seq * 0.001)
end

function request()
    started_us = started_us or now_us()
    next_line = next_line + 1
    if next_line > #lines then
        if mode == "once" or #lines == 0 then
            spent_after_us = spent_after_us or (now_us() - started_us)
            -- The loop stops after this request is written; make it a cheap
            -- one that is not a key, so no "first fetch" is ever a repeat.
            wrk.thread:stop()
            return wrk.format("GET", "/healthz")
        end
        next_line = 1
    end
    if mode == "heartbeat" then
        local l = lines[next_line]
        local seq = (seqs[next_line] or 0) + 1
        seqs[next_line] = seq
        local h = headers_for(l[1])
        h["Content-Type"] = "application/json"
        return wrk.format("POST", l[2], h, heartbeat_body(seq))
    end
    return prebuilt[next_line]
end

function done(summary, latency, requests)
    local e = summary.errors
    -- Every thread ran out early: the run lasted as long as the longest one.
    local duration, spent = 0, 0
    for _, t in ipairs(threads) do
        local after = t:get("spent_after_us")
        if after then
            spent = spent + 1
            duration = math.max(duration, after)
        end
    end
    if spent < #threads then
        duration = summary.duration
    end
    io.write(string.format(
        "WRK requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
        summary.requests, duration, latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
