dofile(libdir .. "/lib.lua")

local function attempt(hdrs)
	local conn = T.connect("10.20.0.5")
	T.check(T.mail(conn, "svc-news", "<n@news.example.com>") == SMFIR_CONTINUE, "mail")
	T.rcpt(conn, "<x@example.net>")
	local r = T.headers(conn, hdrs)
	return conn, r
end

T.run("two From fields refused at end of headers", function()
	local conn, r = attempt(T.good_headers({{"From", "x@evil.example"}}))
	T.check(r == SMFIR_REPLYCODE, "refused at eoh")
	mt.disconnect(conn)
	local ev = T.last_decision()
	T.failed(ev, "rfc5322")
	T.has(ev, "event.code", "5.6.0")
	T.has(ev, "bulkwarden.stage", "eoh")
	local id = string.match(ev, '"event.id":"(%x+)"')
	T.check(id ~= nil and #id == 24, "24 hex digit event id")
end)
T.run("From with two addresses refused", function()
	local h = T.good_headers()
	h[1] = {"From", "n@news.example.com, x@evil.example"}
	local conn, r = attempt(h)
	T.check(r == SMFIR_REPLYCODE, "refused")
	mt.disconnect(conn)
	T.failed(T.last_decision(), "rfc5322")
end)
T.run("display name hiding another address refused", function()
	local h = T.good_headers()
	h[1] = {"From", "\"ceo@bank.example\" <n@news.example.com>"}
	local conn, r = attempt(h)
	T.check(r == SMFIR_REPLYCODE, "refused")
	mt.disconnect(conn)
	T.failed(T.last_decision(), "rfc5322")
end)
-- a reader shows these as "ceo@bank.example": UTF-16 encoded-word, RLO
for name, from in pairs({
	["UTF-16 encoded-word"] = "=?UTF-16BE?B?AGMAZQBvAEAAYgBhAG4AawAuAGUAeABhAG0AcABsAGU=?= <n@news.example.com>",
	["right-to-left override"] = "\"\226\128\174elpmaxe.knab@oec\226\128\172\" <n@news.example.com>",
}) do
	T.run("display name hiding an address as a reader shows it refused: " .. name, function()
		local h = T.good_headers()
		h[1] = {"From", from}
		local conn, r = attempt(h)
		T.check(r == SMFIR_REPLYCODE, "refused")
		mt.disconnect(conn)
		T.failed(T.last_decision(), "rfc5322")
	end)
end
T.run("missing Message-ID refused", function()
	local h = T.good_headers()
	table.remove(h, 5)
	local conn, r = attempt(h)
	T.check(r == SMFIR_REPLYCODE, "refused")
	mt.disconnect(conn)
	T.failed(T.last_decision(), "rfc5322")
end)
T.run("marketing without one-click unsubscribe refused", function()
	local h = T.good_headers()
	table.remove(h, 7)
	local conn, r = attempt(h)
	T.check(r == SMFIR_REPLYCODE, "refused")
	mt.disconnect(conn)
	T.failed(T.last_decision(), "list-unsubscribe")
end)
for _, lu in ipairs({"<https:// >", "<https://x <mailto:a@b>"}) do
	T.run("List-Unsubscribe " .. lu .. " is not an https URI: refused", function()
		local h = T.good_headers()
		h[6] = {"List-Unsubscribe", lu}
		local conn, r = attempt(h)
		T.check(r == SMFIR_REPLYCODE, "refused")
		mt.disconnect(conn)
		T.failed(T.last_decision(), "list-unsubscribe")
	end)
end
T.run("foreign From domain quarantined (policy.actions)", function()
	local h = T.good_headers()
	h[1] = {"From", "n@other.example"}
	local conn, r = attempt(h)
	T.check(r == SMFIR_CONTINUE, "not refused at eoh")
	T.body_eom(conn)
	T.check(mt.eom_check(conn, MT_QUARANTINE), "quarantine requested")
	mt.disconnect(conn)
	local ev = T.last_decision()
	T.has(ev, "event.action", "quarantine")
	T.failed(ev, "from-domain")
end)
