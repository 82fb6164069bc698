-- wrk: spread requests over $BENCH_HOSTS hosts h0..h<N-1>.$BENCH_HOST_SUFFIX, in a fixed
-- shuffled order (so consecutive requests do not walk the routing table in sequence).
-- The requests are formatted once in init(); request() only picks the next one.
local n = tonumber(os.getenv("BENCH_HOSTS") or "10000")
local suffix = os.getenv("BENCH_HOST_SUFFIX") or "bench.local"
local reqs = {}
local i = 0

function init(args)
  math.randomseed(4242)
  local order = {}
  for k = 1, n do order[k] = k - 1 end
  for k = n, 2, -1 do
    local j = math.random(k)
    order[k], order[j] = order[j], order[k]
  end
  for k = 1, n do
    reqs[k] = wrk.format("GET", wrk.path, { Host = "h" .. order[k] .. "." .. suffix })
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end
