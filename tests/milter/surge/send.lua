-- -D n messages with SASL login -D login; from message -D surge_at on the
-- hour is a surge: -D action alert (accepted, check failed with action
-- accept), tempfail (451 at MAIL FROM), or none (never a surge; the event
-- must say -D say). Each decision event lists the volume-surge check.
dofile(libdir .. "/lib.lua")
local n, at = tonumber(n), tonumber(surge_at)
T.run("surge: " .. login .. " x" .. n .. " (" .. action .. " from " .. at .. ")", function()
	for i = 1, n do
		local conn = T.connect("10.20.0.5")
		local over = action ~= "none" and i >= at
		local r = T.mail(conn, login, "<n@news.example.com>")
		if over and action == "tempfail" then
			T.check(r == SMFIR_TEMPFAIL or r == SMFIR_REPLYCODE, "message " .. i .. ": tempfail at MAIL FROM")
			mt.disconnect(conn)
			T.wait_decisions(1)
			local ev = T.last_decision()
			T.has(ev, "event.action", "tempfail")
			T.has(ev, "event.code", "4.7.28")
			T.check(string.find(ev, '{"id":"volume-surge","result":"fail","action":"tempfail"', 1, true) ~= nil,
				"message " .. i .. " deferred by volume-surge: " .. ev)
		else
			T.check(r == SMFIR_CONTINUE, "message " .. i .. ": mail continue")
			T.check(T.rcpt(conn, "<x@example.net>") == SMFIR_CONTINUE, "rcpt")
			T.headers(conn, T.good_headers())
			T.body_eom(conn, "hello\r\n")
			mt.disconnect(conn)
			local ev = T.last_decision()
			T.has(ev, "event.action", "accept")
			if over then
				T.check(string.find(ev, '{"id":"volume-surge","result":"fail","action":"accept"', 1, true) ~= nil,
					"message " .. i .. " names the surge: " .. ev)
			else
				T.check(string.find(ev, '{"id":"volume-surge","result":"pass"', 1, true) ~= nil,
					"message " .. i .. " passes volume-surge: " .. ev)
				if say ~= nil and say ~= "" then
					T.check(string.find(ev, say, 1, true) ~= nil, "event says " .. say .. ": " .. ev)
				end
			end
		end
	end
end)
