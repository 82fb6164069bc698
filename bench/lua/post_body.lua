-- wrk: POST a body of $BENCH_BODY_BYTES bytes (default 1 MiB) on every request.
local n = tonumber(os.getenv("BENCH_BODY_BYTES") or "1048576")
wrk.method = "POST"
wrk.body = string.rep("x", n)
wrk.headers["Content-Type"] = "application/octet-stream"
