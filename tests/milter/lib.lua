-- lib.lua - helpers for bulkwarden's miltertest protocol tests.
-- Globals from run.sh (-D): sock (milter socket), events (event log path).

T = {}

function T.fail(msg)
	error(msg, 2)
end

function T.check(cond, msg)
	if not cond then
		error("check failed: " .. msg, 2)
	end
end

-- New connection, negotiated with libmilter defaults, from host/ip.
function T.connect(ip)
	local conn = mt.connect(sock, 20, 0.1)
	T.check(conn ~= nil, "connect to " .. sock)
	T.check(mt.negotiate(conn, nil, nil, nil) == nil, "negotiate")
	T.check(mt.conninfo(conn, "client.example", ip or "10.20.0.5") == nil, "conninfo")
	return conn
end

-- MAIL FROM with an optional SASL login; returns the milter's reply.
function T.mail(conn, login, from)
	if login ~= nil then
		T.check(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", login, "i", "QID" .. math.random(100000)) == nil, "macro")
	else
		T.check(mt.macro(conn, SMFIC_MAIL, "i", "QID" .. math.random(100000)) == nil, "macro")
	end
	T.check(mt.mailfrom(conn, from) == nil, "mailfrom")
	return mt.getreply(conn)
end

function T.rcpt(conn, to)
	T.check(mt.rcptto(conn, to) == nil, "rcptto " .. to)
	return mt.getreply(conn)
end

-- Send headers (list of {name, value}) and end of headers; returns reply.
function T.headers(conn, hdrs)
	for _, h in ipairs(hdrs) do
		T.check(mt.header(conn, h[1], h[2]) == nil, "header " .. h[1])
	end
	T.check(mt.eoh(conn) == nil, "eoh")
	return mt.getreply(conn)
end

function T.body_eom(conn, body)
	T.check(mt.bodystring(conn, body or "hello\r\n") == nil, "body")
	T.check(mt.eom(conn) == nil, "eom")
	return mt.getreply(conn)
end

-- Standard good headers for the newsletter identity.
function T.good_headers(extra)
	local h = {
		{"From", "News <n@news.example.com>"},
		{"To", "x@example.net"},
		{"Subject", "hello"},
		{"Date", "Mon, 1 Jun 2026 10:00:00 +0000"},
		{"Message-ID", "<" .. math.random(1000000) .. "@news.example.com>"},
		{"List-Unsubscribe", "<https://news.example.com/u/1>"},
		{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	}
	for _, e in ipairs(extra or {}) do
		table.insert(h, e)
	end
	return h
end

-- All event lines so far.
function T.lines()
	local f = io.open(events, "r")
	if f == nil then
		return {}
	end
	local t = {}
	for l in f:lines() do
		table.insert(t, l)
	end
	f:close()
	return t
end

-- The last decision event line.
function T.last_decision()
	local t = T.lines()
	for i = #t, 1, -1 do
		if string.find(t[i], '"event.dataset":"bulkwarden.decision"', 1, true) then
			return t[i]
		end
	end
	return ""
end

-- The event has "key":"value" (exact, plain match).
function T.has(ev, key, value)
	local pat = '"' .. key .. '":"' .. value .. '"'
	T.check(string.find(ev, pat, 1, true) ~= nil, "event lacks " .. pat .. "\n  event: " .. ev)
end

function T.has_num(ev, key, value)
	local pat = '"' .. key .. '":' .. value
	T.check(string.find(ev, pat, 1, true) ~= nil, "event lacks " .. pat .. "\n  event: " .. ev)
end

-- A failed check with the given id appears in bulkwarden.checks.
function T.failed(ev, id)
	local pat = '{"id":"' .. id .. '","result":"fail"'
	T.check(string.find(ev, pat, 1, true) ~= nil, "event lacks failed check " .. id .. "\n  event: " .. ev)
end

-- Count decision events (to prove exactly one per message).
function T.decisions()
	local n = 0
	for _, l in ipairs(T.lines()) do
		if string.find(l, '"event.dataset":"bulkwarden.decision"', 1, true) then
			n = n + 1
		end
	end
	return n
end

-- Wait (up to 3 s) until there are at least n decision events: steps
-- without a reply (abort, quit) are processed after miltertest moves on.
function T.wait_decisions(n)
	for _ = 1, 60 do
		if T.decisions() >= n then
			return true
		end
		mt.sleep(0.05)
	end
	return false
end

-- Run a test body, print PASS/FAIL, exit non-zero on failure.
function T.run(name, fn)
	local ok, err = pcall(fn)
	if ok then
		print("PASS: " .. name)
	else
		print("FAIL: " .. name .. ": " .. tostring(err))
		os.exit(1)
	end
end
