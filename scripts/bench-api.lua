-- wrk driver for scripts/bench-api.sh. One file for every route; the mode
-- comes from the environment (wrk passes no per-run state otherwise):
--
--   BENCH_MODE     healthz | get | create | patch | patch-shared
--   BENCH_TOKEN    bearer token (all modes but healthz)
--   BENCH_TENANT   tenant id for `get`
--   BENCH_TENANTS  file with one tenant id a line, for the patch modes
--   BENCH_THREADS  the -t given to wrk (to split the tenants between threads)
--   BENCH_OUT      done() appends one tab-separated result line here
--
-- healthz, get and create send a fixed request built once, and define no
-- response() so that wrk does not hand each answer to Lua: the load
-- generator shares the machine with the server and must stay cheap. Their
-- non-2xx count is wrk's errors.status (status > 399; the server answers no
-- 1xx/3xx here).
--
-- patch: every request is `PATCH /v1/tenants/{id}` with `If-Match: "N"`,
-- where N is the version that tenant's previous 200 answer carried. Each
-- wrk thread owns a disjoint slice of the pre-created tenants and keeps a
-- free list: a request takes a tenant no other request of the thread has in
-- flight, and its answer (tenantId and version in the body) puts it back.
-- With more tenants than connections no two requests race on a tenant, so
-- a 412 means a real lost update, not the benchmark's own contention.
--
-- patch-shared: the naive design, for contrast: every connection patches
-- the same tenant with the newest version it has seen (from a 200, or from
-- the "is at version N" detail of a 412). Most answers are 412; the row
-- reports how many.

local mode = os.getenv("BENCH_MODE") or "healthz"
local token = os.getenv("BENCH_TOKEN") or ""
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local out_file = os.getenv("BENCH_OUT")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_index", #threads)
end

if mode == "healthz" then
   wrk.method = "GET"
   wrk.path = "/healthz"
elseif mode == "get" then
   wrk.method = "GET"
   wrk.path = "/v1/tenants/" .. os.getenv("BENCH_TENANT")
   wrk.headers["Authorization"] = "Bearer " .. token
elseif mode == "create" then
   wrk.method = "POST"
   wrk.path = "/v1/tenants"
   wrk.headers["Authorization"] = "Bearer " .. token
   wrk.headers["Content-Type"] = "application/json"
   wrk.body = '{"organisationName":"Bench Create Ltd"}'
elseif mode == "patch" or mode == "patch-shared" then
   local body = '{"organisationName":"Bench Patch Ltd"}'
   local head -- the request up to the If-Match value, per tenant
   local free = {}      -- tenant ids not in flight (a stack)
   local version = {}   -- tenant id -> last version seen
   counts = {}          -- status -> answers (global: done() reads it)
   lost = 0             -- answers that named no tenant (non-200 in patch mode)

   local function prefix(id)
      return "PATCH /v1/tenants/" .. id .. " HTTP/1.1\r\n"
         .. "Host: " .. wrk.host .. ":" .. wrk.port .. "\r\n"
         .. "Authorization: Bearer " .. token .. "\r\n"
         .. "Content-Type: application/json\r\n"
         .. "Content-Length: " .. #body .. "\r\n"
         .. "If-Match: \""
   end
   local tail = "\"\r\n\r\n" .. body
   local prefixes = {}
   local shared_id

   function init(args)
      local ids = {}
      for line in io.lines(os.getenv("BENCH_TENANTS")) do
         if line ~= "" then table.insert(ids, line) end
      end
      if mode == "patch-shared" then
         shared_id = ids[1]
         version[shared_id] = 1
         prefixes[shared_id] = prefix(shared_id)
         return
      end
      -- Thread i (1-based) takes ids i, i+T, i+2T, ...
      for i = thread_index, #ids, nthreads do
         local id = ids[i]
         table.insert(free, id)
         version[id] = 1
         prefixes[id] = prefix(id)
      end
   end

   function request()
      local id
      if mode == "patch-shared" then
         id = shared_id
      else
         id = table.remove(free)
         if id == nil then
            -- Every tenant of this thread is in flight or was lost to an
            -- error answer: there is nothing race-free left to send.
            error("bench-api.lua: no free tenant (more connections than tenants, or too many errors)")
         end
      end
      return prefixes[id] .. version[id] .. tail
   end

   function response(status, headers, body)
      counts[status] = (counts[status] or 0) + 1
      if status == 200 then
         local id = body:match('"tenantId":"([^"]+)"')
         local v = tonumber(body:match('"version":(%d+)'))
         if id and v then
            if mode == "patch-shared" then
               if v > version[id] then version[id] = v end
            else
               version[id] = v
               table.insert(free, id)
            end
            return
         end
      elseif mode == "patch-shared" and status == 412 then
         local v = tonumber(body:match("at version (%d+)"))
         if v and v > version[shared_id] then version[shared_id] = v end
         return
      end
      if mode == "patch" then lost = lost + 1 end
   end
else
   error("bench-api.lua: unknown BENCH_MODE " .. mode)
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   local non2xx = e.status
   local statuses = {}
   local lost_total = 0
   if mode == "patch" or mode == "patch-shared" then
      non2xx = 0
      local merged = {}
      for _, t in ipairs(threads) do
         for s, n in pairs(t:get("counts") or {}) do
            merged[s] = (merged[s] or 0) + n
         end
         lost_total = lost_total + (t:get("lost") or 0)
      end
      for s, n in pairs(merged) do
         if s < 200 or s > 299 then non2xx = non2xx + n end
         table.insert(statuses, s .. "=" .. n)
      end
      table.sort(statuses)
   end
   local line = string.format("%s\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%s\n",
      mode, summary.requests, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, non2xx,
      e.connect + e.read + e.write + e.timeout,
      #statuses > 0 and table.concat(statuses, ",") or "-")
   io.write(line)
   if out_file then
      local f = assert(io.open(out_file, "a"))
      f:write(line)
      f:close()
   end
end
