-- Copyright 2026 The tokenreviewd Authors
-- SPDX-License-Identifier: Apache-2.0
--
-- wrk script for the benchmark: every request is a POST of a TokenReview
-- (authentication.k8s.io/v1) as kube-apiserver sends it, for a token drawn
-- at random from a list file (one token a line, given after "--" on the wrk
-- command line).  The requests are formatted once in init() so that the
-- load generator spends its time on the wire, not in building strings:
-- with two cores wrk competes with the server for CPU, and any work done
-- here would be charged to the server under test.

local requests = {}
local count = 0

local headers = {
	["Content-Type"] = "application/json",
	["Accept"] = "application/json, */*",
}

-- setup() runs in the main thread once per wrk thread; the id set here
-- becomes a global in that thread's own Lua state, so each thread seeds
-- its generator differently.
local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("thread_id", nthreads)
end

local function body_for(token)
	return '{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1",' ..
	    '"metadata":{},"spec":{"token":"' .. token .. '",' ..
	    '"audiences":["https://kubernetes.default.svc"]},' ..
	    '"status":{"user":{}}}\n'
end

function init(args)
	local path = args[1]
	if path == nil then
		io.stderr:write("review.lua: usage: wrk ... -s review.lua URL -- TOKENLIST\n")
		os.exit(1)
	end
	for line in io.lines(path) do
		-- Tokens are written into JSON unescaped: refuse any that would
		-- need escaping rather than send a malformed review.
		if line:find('[%c"\\]') then
			io.stderr:write("review.lua: token needs JSON escaping, refused\n")
			os.exit(1)
		end
		if line ~= "" then
			count = count + 1
			requests[count] = wrk.format("POST", nil, headers, body_for(line))
		end
	end
	if count == 0 then
		io.stderr:write("review.lua: no tokens in " .. path .. "\n")
		os.exit(1)
	end
	math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
	return requests[math.random(count)]
end
