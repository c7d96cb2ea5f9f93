-- wrk script for bench/server.sh: refresh-token grants, chained.
--
--   wrk ... URL/user_management/authenticate -s bench/refresh.lua -- \
--       TOKENS_FILE CLIENT_ID API_KEY [JWKS_PATH JWKS_PER_REFRESH]
--
-- TOKENS_FILE holds one refresh token per line (seeded beforehand with
-- curl, one session each). Thread i of wrk takes the lines i, i+T, i+2T…
-- (T = wrk threads) into a FIFO queue. Each request pops the oldest token
-- and presents it; each 200 answer's new refresh_token is pushed to the back
-- of the queue, so every token is presented exactly once (no replays, so the
-- 30 s replay cache never answers instead of signing) and the set of live
-- sessions stays constant. Keep the tokens per thread above the connections
-- per thread, or requests starve (counted: a starved request presents an
-- unknown token and gets an error).
--
-- With JWKS_PATH and JWKS_PER_REFRESH = K, K JWKS GETs are sent for each
-- refresh (the mixed soak load). done() prints one line:
--   lua: refresh_ok=N jwks_ok=N bad=N starved=N first_bad_status=S
-- Every answer that is not a 200 counts as bad.

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

function init(args)
   local file, client, secret = args[1], args[2], args[3]
   jwks_path = args[4]
   jwks_per_refresh = tonumber(args[5] or "0") or 0
   -- wrk threads are numbered by setup(); their count is the number of setup calls,
   -- which init cannot see, so it is passed in the environment by the caller.
   local t = tonumber(os.getenv("WRK_THREADS") or "2")
   queue, head, tail = {}, 1, 0
   local i = 0
   for line in io.lines(file) do
      if line ~= "" then
         if i % t == tid then
            tail = tail + 1
            queue[tail] = line
         end
         i = i + 1
      end
   end
   prefix = '{"grant_type":"refresh_token","client_id":"' .. client ..
      '","client_secret":"' .. secret .. '","refresh_token":"'
   headers = { ["Content-Type"] = "application/json" }
   refresh_ok, jwks_ok, bad, starved, first_bad = 0, 0, 0, 0, 0
   n = 0
end

function request()
   n = n + 1
   if jwks_per_refresh > 0 and n % (jwks_per_refresh + 1) ~= 0 then
      return wrk.format("GET", jwks_path)
   end
   local token
   if head <= tail then
      token = queue[head]
      queue[head] = nil
      head = head + 1
   else
      token = "starved"
      starved = starved + 1
   end
   return wrk.format("POST", nil, headers, prefix .. token .. '"}')
end

function response(status, hdrs, body)
   if status ~= 200 then
      bad = bad + 1
      if first_bad == 0 then first_bad = status end
      return
   end
   local token = body:match('"refresh_token":"([^"]+)"')
   if token then
      tail = tail + 1
      queue[tail] = token
      refresh_ok = refresh_ok + 1
   else
      jwks_ok = jwks_ok + 1
   end
end

function done(summary, latency, requests)
   local r, j, b, s, f = 0, 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      r = r + (thread:get("refresh_ok") or 0)
      j = j + (thread:get("jwks_ok") or 0)
      b = b + (thread:get("bad") or 0)
      s = s + (thread:get("starved") or 0)
      if f == 0 then f = thread:get("first_bad") or 0 end
   end
   io.write(string.format("lua: refresh_ok=%d jwks_ok=%d bad=%d starved=%d first_bad_status=%d\n",
                          r, j, b, s, f))
end
