-- careslot bench workload for wrk (one route group per wrk process).
--
-- wrk reports latency for a whole process, so the driver runs one wrk per route group at
-- the same time (the mixed workload) and each process keeps to its own group. The group, the
-- data file (tokens, Zipf draws, free slots: written by careslot.bench.population) and an
-- optional per-connection delay come from the environment.
--
-- Lua states: the main one (setup/done) and one per wrk thread (init/request/response).
-- Counters live in the thread states and are read back in done() with thread:get().

local GROUP = os.getenv("CARESLOT_BENCH_GROUP") or "floor"
local DELAY_MS = tonumber(os.getenv("CARESLOT_BENCH_DELAY_MS") or "0")
local PLAN = os.getenv("CARESLOT_BENCH_PLAN") or ""
local DATA = dofile(os.getenv("CARESLOT_BENCH_DATA"))

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

-- thread state -----------------------------------------------------------------------

counts = {}          -- outcome name -> count, read by done()
local pending = {}   -- appointments this thread booked and will reschedule or cancel
local sequence = 0
local prebuilt = {}  -- ready request strings for the read groups

local function bump(name)
  counts[name] = (counts[name] or 0) + 1
end

local function auth(token)
  return { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }
end

local function pick(list)
  return list[math.random(#list)]
end

local function zipf_patient()
  return DATA.patients[pick(DATA.zipf_patients)]
end

local function zipf_doctor()
  return DATA.doctors[pick(DATA.zipf_doctors)]
end

local builders = {}

builders.floor = function()
  return wrk.format("GET", "/healthz")
end

builders.dashboard = function()
  return prebuilt.dashboard[pick(DATA.zipf_patients)]
end

builders.slots = function()
  local doctor = zipf_doctor()
  return wrk.format("GET", "/api/slots?doctorId=" .. doctor.id .. "&date=" .. pick(DATA.days))
end

builders.departments = function()
  return wrk.format("GET", "/api/departments")
end

builders.doctors = function()
  return wrk.format("GET", "/api/doctors?departmentId=" .. pick(DATA.departments))
end

builders.appointments = function()
  return prebuilt.appointments[pick(DATA.zipf_patients)]
end

builders.schedule = function()
  local doctor = zipf_doctor()
  local day = pick(DATA.days)
  return wrk.format("GET", "/api/doctors/" .. doctor.id .. "/schedule?from=" .. day ..
                    "&to=" .. day, auth(pick(DATA.staff)))
end

builders.staff_list = function()
  return wrk.format("GET", "/api/appointments?limit=100&from=" .. DATA.today_iso,
                    auth(pick(DATA.staff)))
end

builders.stream = function()
  return wrk.format("GET", "/api/appointments/stream", auth(pick(DATA.staff)))
end

-- Writes: book a free slot (Idempotency-Key), then reschedule or cancel what was booked.
-- wrk does not say which connection a response belongs to, so follow-ups are keyed by the
-- appointment in the response body, and the owner's token by its clientId.
builders.writes = function()
  local follow = table.remove(pending, 1)
  if follow then
    local patient = DATA.patient_by_id[follow.client]
    if follow.stage == "booked" and math.random() < 0.3 then
      local slots = DATA.slots_by_doctor[follow.doctor]
      if slots then
        bump("sent_reschedule")
        local body = '{"start":"' .. pick(slots) .. '"}'
        local headers = auth(patient.token)
        headers["Content-Type"] = "application/json"
        return wrk.format("PATCH", "/api/appointments/" .. follow.id, headers, body)
      end
    end
    bump("sent_cancel")
    local headers = auth(patient.token)
    headers["Content-Type"] = "application/json"
    return wrk.format("PATCH", "/api/appointments/" .. follow.id, headers,
                      '{"status":"cancelled"}')
  end
  sequence = sequence + 1
  local patient = pick(DATA.patients)
  local slot = pick(DATA.book_slots)
  local headers = auth(patient.token)
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = DATA.run_id .. "-" .. thread_id .. "-" .. sequence
  bump("sent_book")
  return wrk.format("POST", "/api/appointments", headers,
                    '{"doctorId":' .. slot[1] .. ',"start":"' .. slot[2] .. '","reason":"' ..
                    DATA.reason .. '"}')
end

-- The booking phase: a fixed number of connections (patients) book the plan's slots one
-- after another, each slot once, so every booking can succeed and none waits on another's.
builders.booking = function()
  sequence = sequence + 1
  local plan = DATA.plans[PLAN]
  local step = plan[sequence]
  if not step then
    bump("plan_exhausted")  -- more requests than planned slots: repeats end as 409
    step = plan[(sequence - 1) % #plan + 1]
  end
  local headers = auth(DATA.patients[step[1]].token)
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = DATA.run_id .. "-" .. PLAN .. "-" .. sequence
  bump("sent_book")
  return wrk.format("POST", "/api/appointments", headers,
                    '{"doctorId":' .. step[2] .. ',"start":"' .. step[3] .. '","reason":"' ..
                    DATA.reason .. '"}')
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  if GROUP == "dashboard" or GROUP == "appointments" then
    prebuilt.dashboard, prebuilt.appointments = {}, {}
    for i, patient in ipairs(DATA.patients) do
      prebuilt.dashboard[i] = wrk.format("GET", "/api/dashboard/stats", auth(patient.token))
      prebuilt.appointments[i] = wrk.format("GET", "/api/appointments?limit=20",
                                            auth(patient.token))
    end
  end
end

request = builders[GROUP]

-- Paced runs: an exponential pause with mean DELAY_MS before each request, so the
-- connections' requests arrive as a Poisson stream instead of in step (a fixed pause keeps
-- every connection in phase and turns a steady rate into periodic bursts).
if DELAY_MS > 0 then
  function delay()
    return math.floor(-math.log(1 - math.random()) * DELAY_MS + 0.5)
  end
end

-- Server-Timing says what each answer cost the server: `db;dur=..;desc="N queries"` and
-- `cache;desc="l1 hit userStats"` (or "l2 hit …", "miss …", "off"). Counting it here gives
-- the hit rate and queries per request over every worker, exactly as clients saw them.
local function note_timing(headers)
  local timing = headers["Server-Timing"] or headers["server-timing"]
  if not timing then
    return
  end
  bump("timed")
  local queries = string.match(timing, 'desc="(%d+) quer')
  if queries then
    counts["db_queries"] = (counts["db_queries"] or 0) + tonumber(queries)
  end
  local outcome = string.match(timing, 'cache;desc="([^"]*)"')
  if outcome then
    local layer, strategy = string.match(outcome, "^(%w+) hit ?(%w*)")
    if layer then
      bump("cache_" .. layer)
      if strategy ~= "" then bump("strategy_" .. strategy .. "_hit") end
    else
      local kind, miss_strategy = string.match(outcome, "^(%w+) ?(%w*)")
      bump("cache_" .. (kind or "other"))
      if miss_strategy and miss_strategy ~= "" then
        bump("strategy_" .. miss_strategy .. "_" .. kind)
      end
    end
  end
end

function response(status, headers, body)
  bump("status_" .. status)
  note_timing(headers)
  if GROUP ~= "writes" and GROUP ~= "booking" then
    return
  end
  if status == 201 then
    bump("booked")
    if GROUP == "booking" then
      return
    end
    local id = string.match(body, '"id":(%d+)')
    local client = string.match(body, '"clientId":(%d+)')
    local doctor = string.match(body, '"doctorId":(%d+)')
    if id and client and DATA.patient_by_id[tonumber(client)] then
      table.insert(pending, { id = id, client = tonumber(client), doctor = tonumber(doctor),
                              stage = "booked" })
    end
  elseif status == 200 then
    local id = string.match(body, '"id":(%d+)')
    if string.find(body, '"status":"cancelled"', 1, true) then
      bump("cancelled")
    elseif id then
      bump("rescheduled")
      local client = string.match(body, '"clientId":(%d+)')
      table.insert(pending, { id = id, client = tonumber(client), stage = "rescheduled" })
    end
  elseif status == 409 then
    local code = string.match(body, '"code":"([%w_]+)"')
    bump("conflict_" .. (code or "unknown"))
  end
end

if GROUP == "floor" then
  response = nil  -- the floor measures the bare stack: no body handed to Lua
end

-- main state -------------------------------------------------------------------------

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    for key, item in pairs(value) do
      table.insert(parts, string.format("%q:%s", tostring(key), encode(item)))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "number" then
    return string.format("%.6f", value)
  end
  return string.format("%q", tostring(value))
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local thread_counts = thread:get("counts") or {}
    for name, count in pairs(thread_counts) do
      merged[name] = (merged[name] or 0) + count
    end
  end
  local percentiles = {}
  for _, p in ipairs({ 50, 75, 90, 95, 99, 99.9 }) do
    percentiles[tostring(p)] = latency:percentile(p) / 1000.0  -- microseconds -> ms
  end
  local report = {
    group = GROUP,
    duration_s = summary.duration / 1e6,
    requests = summary.requests,
    bytes = summary.bytes,
    errors = summary.errors,
    latency_ms = { percentiles = percentiles, mean = latency.mean / 1000.0,
                   max = latency.max / 1000.0, stdev = latency.stdev / 1000.0 },
    counts = merged,
  }
  io.write("CARESLOT_BENCH_JSON " .. encode(report) .. "\n")
end
