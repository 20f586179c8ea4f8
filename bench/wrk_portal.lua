-- wrk script of the portal benchmark (bench/wrk.py runs it; see bench/README.md).
--
-- Each request is a $BENCH_METHOD (default POST; GET for the reads), without a body, to the
-- URL's path with the next user's Bearer token (one per line in $BENCH_TOKENS; none: no
-- Authorization header) and "Connection: close", so that gunicorn's workers share the load
-- request by request rather than by kept-alive connection.
-- The tokens are cut into one slice per thread ($BENCH_THREADS); each thread takes the tokens
-- of its slice in turn, from $BENCH_TOKEN_OFFSET on (`python -m bench` carries it from one run to
-- the next): a user's token comes round once every (tokens / threads) requests of its thread,
-- over the whole bench, not at the start of every run (the portal's per-user rate limit).
-- A thread says on stdout ("BENCH_THREAD_DONE") when it has had $BENCH_REQUESTS_PER_THREAD
-- responses, and carries on: wrk.py sends wrk SIGINT once every thread has said so, and
-- done() prints one line, "BENCH_RESULT {json}", with latency percentiles and counts by status.
-- Threads do not stop themselves (wrk.thread:stop()): a stopped thread's connections stay open
-- until wrk exits, and gunicorn 27's gthread worker, closing a "Connection: close" connection,
-- waits up to 2 s for the client to close its side, in the loop that serves the whole worker.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local headers = { ["Connection"] = "close" }
  local method = os.getenv("BENCH_METHOD") or ""
  if method == "" then
    method = "POST"
  end
  prepared = {}
  local tokens = os.getenv("BENCH_TOKENS")
  if tokens and tokens ~= "" then
    for token in io.lines(tokens) do
      if token ~= "" then
        headers["Authorization"] = "Bearer " .. token
        prepared[#prepared + 1] = wrk.format(method, nil, headers)
      end
    end
  end
  if #prepared == 0 then
    headers["Authorization"] = nil
    prepared[1] = wrk.format(method, nil, headers)
  end
  local threads_count = tonumber(os.getenv("BENCH_THREADS") or "1")
  slice = math.max(1, math.floor(#prepared / threads_count))
  first = (thread_index * slice) % #prepared
  position = tonumber(os.getenv("BENCH_TOKEN_OFFSET") or "0") % slice
  limit = tonumber(os.getenv("BENCH_REQUESTS_PER_THREAD") or "0")
  answered = 0
  statuses = {}
end

function request()
  position = (position + 1) % slice
  return prepared[first + position + 1]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  answered = answered + 1
  if limit > 0 and answered == limit then
    io.write("BENCH_THREAD_DONE\n")
    io.flush()
  end
end

function done(summary, latency, requests)
  local by_status = {}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("statuses") or {}) do
      by_status[key] = (by_status[key] or 0) + count
    end
  end
  local parts = {}
  for key, count in pairs(by_status) do
    parts[#parts + 1] = string.format('"%s": %d', key, count)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_s": %.6f, ' ..
    '"latency_ms": {"p50": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f, "mean": %.3f}, ' ..
    '"statuses": {%s}, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3,
    table.concat(parts, ", "), e.connect, e.read, e.write, e.timeout))
end
