-- Copyright 2026 The tokenreviewd Authors
-- SPDX-License-Identifier: Apache-2.0
--
-- wrk script for the login benchmark: every request is a POST /login with
-- HTTP Basic credentials, taken in turn from a list file (one
-- base64(user:password) a line, given after "--" on the wrk command line).
-- Each thread starts at its own place in the list and cycles through it,
-- so that successive logins are of different users: the directory binds
-- a new user each time and no user name logs in often enough to matter
-- to any per-user limit.  The requests are formatted once in init(), as
-- in review.lua, so that wrk spends its time on the wire.

local requests = {}
local count = 0
local next_i = 1
local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("thread_id", nthreads)
end

function init(args)
	local path = args[1]
	if path == nil then
		io.stderr:write("login.lua: usage: wrk ... -s login.lua URL -- CREDLIST\n")
		os.exit(1)
	end
	for line in io.lines(path) do
		if line:find('[^%w+/=]') then
			io.stderr:write("login.lua: not a base64 credential, refused\n")
			os.exit(1)
		end
		if line ~= "" then
			count = count + 1
			requests[count] = wrk.format("POST", nil,
			    { ["Authorization"] = "Basic " .. line,
			      ["Content-Length"] = "0" }, nil)
		end
	end
	if count == 0 then
		io.stderr:write("login.lua: no credentials in " .. path .. "\n")
		os.exit(1)
	end
	next_i = ((thread_id or 1) - 1) * 7919 % count + 1
end

function request()
	local r = requests[next_i]
	next_i = next_i % count + 1
	return r
end
