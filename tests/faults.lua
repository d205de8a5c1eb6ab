-- Copyright 2026 The tokenreviewd Authors
-- SPDX-License-Identifier: Apache-2.0
--
-- wrk script of tests/faults.sh: POSTs TokenReviews for tokens taken in
-- turn from a list file (one valid token a line, after "--" on the wrk
-- command line), with the caller's bearer token from $FAULTS_BEARER, and
-- sorts every answer:
--   ok     200, authenticated true
--   error  200, authenticated false with a status.error (a source failed
--          and said so)
--   no     200, authenticated false without an error
--   other  any other answer
-- done() prints one line that the callers read:
--   faults: requests N ok N error N no N other N max_ms N p99_ms N
--   timeouts N sockerr N

local requests = {}
local count = 0
local next_req = 0
local threads = {}

local headers = {
	["Content-Type"] = "application/json",
	["Authorization"] = "Bearer " .. (os.getenv("FAULTS_BEARER") or ""),
}

ok, errors, no, other = 0, 0, 0, 0

function setup(thread)
	table.insert(threads, thread)
	thread:set("thread_id", #threads)
end

function init(args)
	for line in io.lines(args[1]) do
		if line:find('[%c"\\]') then
			io.stderr:write("faults.lua: token needs JSON escaping\n")
			os.exit(1)
		end
		if line ~= "" then
			count = count + 1
			requests[count] = wrk.format("POST", nil, headers,
			    '{"kind":"TokenReview","apiVersion":' ..
			    '"authentication.k8s.io/v1","spec":{"token":"' ..
			    line .. '"}}')
		end
	end
	next_req = thread_id or 0
end

function request()
	next_req = next_req % count + 1
	return requests[next_req]
end

function response(status, headers, body)
	if status == 200 and body:find('"authenticated":%s*true') then
		ok = ok + 1
	elseif status == 200 and body:find('"authenticated":%s*false') and
	    body:find('"error":%s*"[^"]') then
		errors = errors + 1
	elseif status == 200 and body:find('"authenticated":%s*false') then
		no = no + 1
	else
		other = other + 1
		if other <= 3 then
			io.stderr:write("faults.lua: bad answer " .. status ..
			    ": " .. body:sub(1, 300) .. "\n")
		end
	end
end

function done(summary, latency, requests)
	local o, e, n, x = 0, 0, 0, 0
	for _, t in ipairs(threads) do
		o = o + t:get("ok")
		e = e + t:get("errors")
		n = n + t:get("no")
		x = x + t:get("other")
	end
	local s = summary.errors
	io.write(string.format("faults: requests %d ok %d error %d no %d " ..
	    "other %d max_ms %d p99_ms %d timeouts %d sockerr %d\n",
	    summary.requests, o, e, n, x, math.floor(latency.max / 1000),
	    math.floor(latency:percentile(99) / 1000), s.timeout,
	    s.connect + s.read + s.write + s.status))
end
