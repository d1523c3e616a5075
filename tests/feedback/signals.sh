# Sourced by run.sh after the corpus is ingested (uses its $dir, ctl, ok,
# ko, fb_events, $PY, $CTL, $here): feedback counted once per report and
# per identity in the store, the signals verb, automatic suspension and
# threshold warnings, per-identity thresholds that may only tighten.

# signal FIELD ID SIGNAL [CONF]: one field of `signals --json`
signal() {
	"$CTL" -c "${4:-$dir/bulkwarden.conf}" signals --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
for i in d["identities"]:
    for s in i["signals"]:
        if i["id"] == sys.argv[2] and s["signal"] == sys.argv[3]:
            print(s[sys.argv[1]])' "$@"
}

# --- the same report twice counts once ---
before=$(signal numerator newsletter complaint_rate)
ctl ingest "$here/corpus/arf-feedback-id.eml" >"$dir/out" 2>&1; rc=$?
ev=$(fb_events | tail -n 1)
after=$(signal numerator newsletter complaint_rate)
if [ $rc -eq 0 ] && echo "$ev" | grep -q '"bulkwarden.feedback.duplicate":true' &&
	grep -q "duplicate: counted before" "$dir/out" && [ "$before" = "$after" ] && [ -n "$after" ]; then
	ok "the same ARF report again: exit 0, event says duplicate, complaints stay $after"
else
	ko "ARF again: exit $rc, complaints $before -> $after, $(cat "$dir/out") $ev"
fi
# delivered again through another hop (headers prepended): still the same report
{ printf 'Received: from mx2.example.com by relay.example.com; Fri, 4 Dec 2026 10:00:00 +0000\nDelivered-To: fbl@example.com\n'; cat "$here/corpus/arf-feedback-id.eml"; } >"$dir/arf-rehop.eml"
ctl ingest "$dir/arf-rehop.eml" >/dev/null 2>&1; rc=$?
after2=$(signal numerator newsletter complaint_rate)
if [ $rc -eq 0 ] && fb_events | tail -n 1 | grep -q '"bulkwarden.feedback.duplicate":true' && [ "$after2" = "$after" ]; then
	ok "the same report with Received/Delivered-To added on the way: duplicate"
else
	ko "re-hopped report: exit $rc, complaints $after -> $after2"
fi
# the same DMARC aggregate report as zip, as a message attachment and again
n1=$(grep '"bulkwarden.feedback.report.id":"12021873454129839671"' "$dir/events.jsonl" | grep -c '"bulkwarden.feedback.duplicate":false')
n2=$(grep '"bulkwarden.feedback.report.id":"12021873454129839671"' "$dir/events.jsonl" | grep -c '"bulkwarden.feedback.duplicate":true')
if [ "$n1" = 1 ] && [ "$n2" -ge 1 ]; then
	ok "Google's aggregate report as zip and as attachment: counted once ($n1 new, $n2 duplicate)"
else
	ko "Google's aggregate report: $n1 new, $n2 duplicate events"
fi

# --- counts per identity after the corpus ---
# complaints and hard bounces per identity: the sums of expect.txt's
# columns (each corpus report is distinct, so each counts)
sumcol() { awk -v id="$1" -v col="$2" '$1 !~ /^#/ && $2 == 0 && $4 == id && ($3 == "arf" || $3 == "dsn") { n += $col } END { print n + 0 }' "$here/expect.txt"; }
wantc="$(sumcol newsletter 6) $(sumcol receipts 6) $(sumcol newsletter 7) $(sumcol receipts 7)"
got="$(signal numerator newsletter complaint_rate) $(signal numerator receipts complaint_rate) $(signal numerator newsletter hard_bounce_rate) $(signal numerator receipts hard_bounce_rate)"
if [ "$got" = "$wantc" ] && [ "$wantc" != "0 0 0 0" ]; then
	ok "complaints newsletter, receipts; hard bounces newsletter, receipts: $got (expect.txt's sums)"
else
	ko "counts per identity: got '$got' want '$wantc'"
fi
ncomp=$(sumcol newsletter 6)
# DMARC: the store's sums equal the identities' rows of the reports counted (not duplicates)
want=$($PY -c '
import json, sys
t = {}
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("bulkwarden.feedback.kind") == "dmarc-aggregate" and e.get("bulkwarden.feedback.duplicate") is False:
        for i in e["bulkwarden.feedback.identities"]:
            m, f = t.get(i["id"], (0, 0))
            t[i["id"]] = (m + i["messages"], f + i["dmarc_fail"])
print(" ".join("%s=%d/%d" % (k, v[1], v[0]) for k, v in sorted(t.items())))' "$dir/events.jsonl")
gotd="newsletter=$(signal numerator newsletter dmarc_fail_rate)/$(signal denominator newsletter dmarc_fail_rate) receipts=$(signal numerator receipts dmarc_fail_rate)/$(signal denominator receipts dmarc_fail_rate)"
if [ "$want" = "$gotd" ] && [ "$gotd" != "newsletter=0/0 receipts=0/0" ]; then
	ok "DMARC failures/messages per identity in the store: $gotd"
else
	ko "DMARC per identity: store '$gotd', reports '$want'"
fi

# --- the signals verb ---
ctl signals >"$dir/out" 2>&1; rc=$?
if [ $rc -eq 0 ] && head -n 1 "$dir/out" | grep -q 'SIGNAL.*WINDOW.*NUM/DEN.*VALUE.*WARN.*SUSPEND.*MIN.*STATE.*WAIVER' &&
	grep -Eq "^newsletter +complaint_rate +24h +$ncomp/0 +0\.0000 +0\.001 +0\.003 +1000 +insufficient-data +-" "$dir/out" &&
	[ "$(grep -c . "$dir/out")" -eq 7 ]; then
	ok "signals: a line per identity and signal, $ncomp/0 complaints is insufficient-data"
else
	ko "signals: exit $rc $(cat "$dir/out")"
fi
ctl signals receipts --json >"$dir/out" 2>&1; rc=$?
if [ $rc -eq 0 ] && $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [i["id"] for i in d["identities"]] == ["receipts"]
s = {x["signal"]: x for x in d["identities"][0]["signals"]}
assert sorted(s) == ["complaint_rate", "dmarc_fail_rate", "hard_bounce_rate"]
c = s["complaint_rate"]
assert (c["window_hours"], c["warn"], c["suspend"], c["min_messages"]) == (24, 0.001, 0.003, 1000), c
assert s["dmarc_fail_rate"]["min_messages"] == 500 and s["dmarc_fail_rate"]["suspend"] == 0.1
assert c["waived"] is False and c["state"] == "insufficient-data"
' "$dir/out"; then
	ok "signals receipts --json: thresholds (SPEC §9 defaults), window, state, waived"
else
	ko "signals --json: exit $rc $(head -c 600 "$dir/out")"
fi
ctl signals nosuch >/dev/null 2>&1; rc=$?
if [ $rc -eq 1 ]; then ok "signals of an unknown identity: exit 1"; else ko "signals nosuch: exit $rc"; fi

# --- automatic suspension: 2000 messages sent, complaints ingested one by one ---
as=$dir/as
mkdir -p "$as"
sed -e "s|$dir/state/state.db|$as/state.db|" -e "s|$dir/events.jsonl|$as/events.jsonl|" \
	"$dir/bulkwarden.conf" >"$as/bw.conf"
hour=$(( $(date +%s) / 3600 * 3600 ))
cat >"$as/seed.jsonl" <<SEED
{"kind":"bulkwarden-state","format":1,"backend":"sqlite","exported":"2026-01-01T00:00:00Z"}
{"kind":"counter","id":"newsletter","hour":$hour,"counts":{"messages":2000,"recipients":2000,"bytes":4000000,"accepted":2000,"rejected":0,"quarantined":0,"tempfailed":0}}
{"kind":"end","audit":0,"suspensions":0,"counters":1,"usage":0}
SEED
"$CTL" -c "$as/bw.conf" state import "$as/seed.jsonl" >"$as/out" 2>&1 || ko "seeding 2000 messages: $(cat "$as/out")"
# 8 distinct complaints about newsletter mail (each its own recipient)
states=""
for i in 1 2 3 4 5 6 7 8; do
	sed "s/reader@mailbox.example.net/reader$i@mailbox.example.net/g" \
		"$here/corpus/arf-feedback-id.eml" >"$as/arf-$i.eml"
	"$CTL" -c "$as/bw.conf" ingest "$as/arf-$i.eml" >/dev/null 2>"$as/err-$i"; rc=$?
	states="$states $rc:$(signal state newsletter complaint_rate "$as/bw.conf")"
done
want=" 0:ok 0:warn 0:warn 0:warn 0:warn 0:suspend 0:suspend 0:suspend"
if [ "$states" = "$want" ]; then
	ok "8 complaints over 2000 messages: ok, warn at 2 (0.001), suspend from 6 (0.003)"
else
	ko "complaint states: got '$states' want '$want' $(cat "$as/err-8")"
fi
"$CTL" -c "$as/bw.conf" show newsletter >"$as/show" 2>&1
if grep -qi 'suspended' "$as/show"; then
	ok "bulkwardenctl show newsletter: suspended"
else
	ko "show after 8 complaints: $(cat "$as/show")"
fi
"$CTL" -c "$as/bw.conf" audit --json >"$as/audit.json" 2>&1
res=$($PY -c '
import json, sys
recs = json.load(open(sys.argv[1]))
recs = recs.get("records", recs) if isinstance(recs, dict) else recs
def g(r, *ks):
    for k in ks:
        if k in r: return r[k]
    return ""
acts = [(g(r, "action", "event.action"), g(r, "actor", "bulkwarden.actor"), g(r, "identity", "bulkwarden.identity.id"), g(r, "reason", "event.reason")) for r in recs]
au = [a for a in acts if a[0] == "auto-suspend"]
tw = [a for a in acts if a[0] == "threshold-warning"]
print(len(au), len(tw))
for a in au + tw: print(*a, sep="|")' "$as/audit.json" 2>&1)
if [ "$(echo "$res" | head -n 1)" = "1 1" ] &&
	echo "$res" | grep -q '^auto-suspend|bulkwarden|newsletter|complaint_rate 0.0030 >= 0.003 over 24h (6/2000)$' &&
	echo "$res" | grep -q '^threshold-warning|bulkwarden|newsletter|complaint_rate 0.0010 >= 0.001 over 24h (2/2000)$'; then
	ok "audit: one auto-suspend by bulkwarden with the figures, one threshold-warning (not one per report)"
else
	ko "audit after 8 complaints: $res"
fi
if grep -q '"event.action":"auto-suspend"' "$as/events.jsonl" && [ "$(grep -c '"event.action":"threshold-warning"' "$as/events.jsonl")" -eq 1 ]; then
	ok "auto-suspend and threshold-warning audit events in the event log"
else
	ko "audit events: $(grep -c bulkwarden.audit "$as/events.jsonl")"
fi
if "$CTL" -c "$as/bw.conf" audit --verify >/dev/null 2>&1; then ok "audit chain verifies after auto-suspend"; else ko "audit --verify after auto-suspend"; fi
# a reinstatement while the rate stays above suspend: the next report suspends again
"$CTL" -c "$as/bw.conf" reinstate newsletter --reason "fixed the list" --by alice --ticket CHG-9 >/dev/null 2>&1; rc=$?
sed "s/reader@mailbox.example.net/reader9@mailbox.example.net/g" "$here/corpus/arf-feedback-id.eml" >"$as/arf-9.eml"
"$CTL" -c "$as/bw.conf" ingest "$as/arf-9.eml" >/dev/null 2>&1
n=$("$CTL" -c "$as/bw.conf" audit 2>/dev/null | grep -c 'auto-suspend')
if [ $rc -eq 0 ] && [ "$n" -eq 2 ] && "$CTL" -c "$as/bw.conf" show newsletter | grep -qi suspended; then
	ok "reinstated (by alice, not bulkwarden), the next complaint suspends again"
else
	ko "reinstate then complaint: reinstate exit $rc, auto-suspend records $n"
fi
# a manual suspension until a later date is never shortened by an auto-suspend:
# an identity suspended for ever stays so, nothing written
# (the complaint's recipient still goes on the suppression list: its
# suppress record is not counted)
c0=$("$CTL" -c "$as/bw.conf" audit 2>/dev/null | grep -vc ' suppress ')
sed "s/reader@mailbox.example.net/reader10@mailbox.example.net/g" "$here/corpus/arf-feedback-id.eml" >"$as/arf-10.eml"
"$CTL" -c "$as/bw.conf" ingest "$as/arf-10.eml" >/dev/null 2>&1; rc=$?
c1=$("$CTL" -c "$as/bw.conf" audit 2>/dev/null | grep -vc ' suppress ')
if [ $rc -eq 0 ] && [ "$c0" = "$c1" ]; then
	ok "already suspended: a further complaint writes no record"
else
	ko "already suspended: exit $rc, audit lines $c0 -> $c1"
fi

# --- a waiver of the complaint signal: still evaluated and shown, suspends
# nobody while in force; once expired (waiver-expired), the next complaint
# suspends again ---
"$CTL" -c "$as/bw.conf" reinstate newsletter --reason "list cleaned" --by carol --ticket CHG-10 >/dev/null 2>&1
"$CTL" -c "$as/bw.conf" waive newsletter --signal complaint_rate --until 6s --reason "list migration" \
	--by carol --approver dave --ticket CHG-11 >"$as/waive.out" 2>&1; rc=$?
wexp=$(( $(date +%s) + 6 ))
a0=$("$CTL" -c "$as/bw.conf" audit 2>/dev/null | grep -c 'auto-suspend')
sed "s/reader@mailbox.example.net/reader11@mailbox.example.net/g" "$here/corpus/arf-feedback-id.eml" >"$as/arf-11.eml"
"$CTL" -c "$as/bw.conf" ingest "$as/arf-11.eml" >/dev/null 2>&1
a1=$("$CTL" -c "$as/bw.conf" audit 2>/dev/null | grep -c 'auto-suspend')
"$CTL" -c "$as/bw.conf" signals newsletter >"$as/sig.out" 2>&1
wj=$("$CTL" -c "$as/bw.conf" signals newsletter --json 2>/dev/null | $PY -c '
import json, sys
d = json.load(sys.stdin)
for i in d["identities"]:
    for s in i["signals"]:
        if s["signal"] == "complaint_rate":
            print(s["state"], s["waived"], s.get("waiver", {}).get("ticket"))' 2>&1)
if [ $rc -eq 0 ] && [ "$a0" = "$a1" ] && "$CTL" -c "$as/bw.conf" show newsletter | grep -q '^suspended: *no$' &&
	grep -q 'complaint_rate.*suspend.*waived #[0-9]* CHG-11 until' "$as/sig.out" && [ "$wj" = "suspend True CHG-11" ]; then
	ok "complaint_rate waived: over the suspend threshold, shown as waived (CHG-11), nobody suspended"
else
	ko "signal waiver: waive exit $rc $(cat "$as/waive.out"); auto-suspend $a0 -> $a1; signals: $(cat "$as/sig.out") json: $wj"
fi
while [ "$(date +%s)" -le "$wexp" ]; do sleep 1; done
sed "s/reader@mailbox.example.net/reader12@mailbox.example.net/g" "$here/corpus/arf-feedback-id.eml" >"$as/arf-12.eml"
"$CTL" -c "$as/bw.conf" ingest "$as/arf-12.eml" >/dev/null 2>&1
a2=$("$CTL" -c "$as/bw.conf" audit 2>/dev/null | grep -c 'auto-suspend')
if [ "$a2" -eq $((a1 + 1)) ] && "$CTL" -c "$as/bw.conf" audit 2>/dev/null | grep -q 'waiver-expired' &&
	"$CTL" -c "$as/bw.conf" show newsletter | grep -q '^suspended: *since '; then
	ok "the waiver expired by itself (waiver-expired): the next complaint suspends newsletter again"
else
	ko "after the waiver: auto-suspend $a1 -> $a2; $("$CTL" -c "$as/bw.conf" audit 2>&1 | tail -n 3)"
fi

# --- per-identity thresholds: tighter accepted, looser refused with file:line ---
sed 's|feedback_id = true; }|feedback_id = true; governance = { complaint_rate = { suspend = 0.002; }; }; }|' \
	"$as/bw.conf" >"$as/tight.conf"
if "$CTL" -c "$as/tight.conf" check >/dev/null 2>&1 &&
	[ "$(signal suspend newsletter complaint_rate "$as/tight.conf")" = "0.002" ] &&
	[ "$(signal warn newsletter complaint_rate "$as/tight.conf")" = "0.001" ] &&
	[ "$(signal suspend receipts complaint_rate "$as/tight.conf")" = "0.003" ]; then
	ok "identity.governance complaint_rate.suspend 0.002: newsletter's only, warn kept"
else
	ko "tighter per-identity threshold: $("$CTL" -c "$as/tight.conf" check 2>&1)"
fi
sed 's|feedback_id = true; }|feedback_id = true; governance = { complaint_rate = { suspend = 0.004; }; }; }|' \
	"$as/bw.conf" >"$as/loose.conf"
line=$(grep -n 'suspend = 0.004' "$as/loose.conf" | cut -d: -f1)
"$CTL" -c "$as/loose.conf" check >"$as/out" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "loose.conf:$line: .*governance.complaint_rate.suspend: 0.004 loosens the baseline (policy.governance.complaint_rate.suspend is 0.003)" "$as/out"; then
	ok "a looser per-identity threshold is refused at loose.conf:$line"
else
	ko "looser threshold: exit $rc $(cat "$as/out")"
fi
sed 's|^relay|policy = { governance = { hard_bounce_rate = { warn = 0.2; suspend = 0.1; }; }; };\nrelay|' \
	"$as/bw.conf" >"$as/order.conf"
"$CTL" -c "$as/order.conf" check >"$as/out" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "warn 0.2 is above suspend 0.1" "$as/out"; then
	ok "policy.governance warn above suspend is refused"
else
	ko "warn above suspend: exit $rc $(cat "$as/out")"
fi
