-- wrk script for bench/load.sh: requests that need a bearer token, distinct
-- paths or a growing counter, and one parseable result line.
--
--   wrk -t2 -c32 -d10s -s bench/load.lua URL -- MODE FILE THREADS
--
-- FILE has one request per line: `TOKEN PATH` (TOKEN `-` sends no
-- Authorization header). Lines are dealt to the threads round-robin, so the
-- threads never share a line. MODE:
--   cycle      each thread sends its lines in turn, again and again;
--   once       each line is sent once; a thread stops when its lines are spent
--              (wrk then reports the shorter run time), so a "first fetch" is
--              never a repeat (each connection's last request is a /healthz);
--   heartbeat  POST to each line's path in turn with a report whose `seq`
--              grows per line (per session), as a player's do.
-- Non-2xx/3xx answers are counted by wrk as status errors.

local threads_started = 0

function setup(thread)
    thread:set("thread_index", threads_started)
    threads_started = threads_started + 1
end

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
    local i = 0
    for line in io.lines(file) do
        if i % threads == thread_index then
            local token, path = line:match("^(%S+)%s+(%S+)$")
            if token then
                lines[#lines + 1] = { token, path }
            end
        end
        i = i + 1
    end
    if #lines == 0 then
        error("bench/load.lua: no requests for thread " .. thread_index .. " in " .. file)
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
    next_line = next_line + 1
    if next_line > #lines then
        if mode == "once" then
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
    io.write(string.format(
        "WRK requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
