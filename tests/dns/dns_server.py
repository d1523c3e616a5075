#!/usr/bin/python3
"""tests/dns/dns_server.py - a small authoritative DNS server for bulkwarden's
DNS tests (SPF, DMARC, DKIM key checks), on 127.0.0.1, UDP and TCP on one
random port.  Needs Debian's python3-dnspython (run with /usr/bin/python3).

    dns_server.py ZONEFILE PORTFILE [QUERYLOG]

The port is written to PORTFILE (atomically) once both sockets listen.  Every
query is appended to QUERYLOG as "udp|tcp NAME TYPE" so tests can count
lookups.  Zone lines ("#" starts a comment, names are absolute, no trailing
dot needed):

    name TXT text...        raw text, split into 255-byte strings
    name TXT "a" "b"        explicit character-strings (several per record)
    name A 192.0.2.1        likewise AAAA, MX "10 mx.example", CNAME, PTR
    name TIMEOUT            never answer this name (UDP or TCP)
    name SERVFAIL           answer SERVFAIL;  name REFUSED: answer REFUSED
    name TCPONLY            UDP answers for this name come back truncated
    name DELAY 1500         answer this name after 1500 ms

    @signed FILE ORIGIN     serve a DNSSEC-signed zone (BIND master file,
                            e.g. ldns-signzone output) with its RRSIGs and
                            NSEC denials to queries with the DO bit

Names not listed are NXDOMAIN; listed names without the asked type NODATA.
A CNAME is followed inside the zone.  UDP answers larger than the client's
EDNS size (512 without EDNS) are truncated (TC) so the client retries on TCP.
"""
import os
import socket
import socketserver
import struct
import sys
import threading
import time

import dns.flags
import dns.zone
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

zone_file, port_file = sys.argv[1], sys.argv[2]
log_file = sys.argv[3] if len(sys.argv) > 3 else None
log_lock = threading.Lock()

RECORD_TYPES = {"TXT", "A", "AAAA", "MX", "CNAME", "PTR", "NS"}
zone = {}     # name -> type -> [rdata text]
special = {}  # name -> {"TIMEOUT": True, "DELAY": ms, ...}
signed = []   # dns.zone.Zone objects (absolute names)


def quote_txt(data):
    """Raw text -> presentation form: 255-byte quoted strings."""
    if data.startswith('"'):
        return data
    b = data.encode()
    chunks = [b[i:i + 255] for i in range(0, len(b), 255)] or [b""]
    return " ".join('"%s"' % c.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"')
                    for c in chunks)


with open(zone_file) as f:
    for ln, raw in enumerate(f, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if parts[0] == "@signed":
            signed.append(dns.zone.from_file(parts[1], origin=parts[2], relativize=False))
            continue
        name = parts[0].lower().rstrip(".") + "."
        kind = parts[1].upper()
        if kind in ("TIMEOUT", "SERVFAIL", "REFUSED", "TCPONLY"):
            special.setdefault(name, {})[kind] = True
            continue
        if kind == "DELAY":
            special.setdefault(name, {})["DELAY"] = int(parts[2])
            continue
        if kind not in RECORD_TYPES or len(parts) < 3:
            sys.exit("%s:%d: bad line" % (zone_file, ln))
        data = quote_txt(parts[2]) if kind == "TXT" else parts[2]
        zone.setdefault(name, {}).setdefault(kind, []).append(data)


def log(transport, name, rtype):
    if log_file is None:
        return
    with log_lock:
        with open(log_file, "a") as f:
            f.write("%s %s %s\n" % (transport, name, rtype))


def add_signed(section, z, name, rdtype, do):
    """Append name's rrset of rdtype (and its RRSIG when DO) to section."""
    node = z.get_node(name)
    if node is None:
        return False
    rds = node.get_rdataset(dns.rdataclass.IN, rdtype)
    if rds is None:
        return False
    section.append(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)))
    if do:
        sig = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype)
        if sig is not None:
            section.append(dns.rrset.from_rdata_list(name, sig.ttl, list(sig)))
    return True


def covering_nsec(z, name):
    """The NSEC owner name that covers name (the greatest owner <= name)."""
    best = None
    for owner, node in z.nodes.items():
        if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC) is None:
            continue
        if owner <= name and (best is None or owner > best):
            best = owner
    return best


def answer_signed(q, r, z, qname, rdtype):
    """Authoritative answer from a signed zone, DNSSEC records on DO."""
    do = bool(q.ednsflags & dns.flags.DO)
    if q.edns >= 0:
        r.use_edns(0, dns.flags.DO if do else 0, 1232)
    if add_signed(r.answer, z, qname, rdtype, do):
        return r
    node = z.get_node(qname)
    add_signed(r.authority, z, z.origin, dns.rdatatype.SOA, do)
    if node is not None:  # NODATA: the name's own NSEC
        if do:
            add_signed(r.authority, z, qname, dns.rdatatype.NSEC, do)
        return r
    r.set_rcode(dns.rcode.NXDOMAIN)
    if do:
        encloser = qname.parent()
        while encloser != z.origin and z.get_node(encloser) is None:
            encloser = encloser.parent()
        owners = {covering_nsec(z, qname), covering_nsec(z, dns.name.from_text("*", encloser))}
        for owner in owners:
            if owner is not None:
                add_signed(r.authority, z, owner, dns.rdatatype.NSEC, do)
    return r


def answer(wire, transport):
    """The response message for a query, or None to stay silent."""
    try:
        q = dns.message.from_wire(wire)
    except Exception:
        return None
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    if len(q.question) != 1:
        r.set_rcode(dns.rcode.FORMERR)
        return r
    qq = q.question[0]
    name = qq.name.to_text().lower()
    tname = dns.rdatatype.to_text(qq.rdtype)
    log(transport, name.rstrip("."), tname)
    sp = special.get(name, {})
    if sp.get("TIMEOUT"):
        return None
    if sp.get("DELAY"):
        time.sleep(sp["DELAY"] / 1000.0)
    if sp.get("SERVFAIL"):
        r.set_rcode(dns.rcode.SERVFAIL)
        return r
    if sp.get("REFUSED"):
        r.set_rcode(dns.rcode.REFUSED)
        return r
    for z in signed:
        if qq.name.is_subdomain(z.origin):
            return answer_signed(q, r, z, qq.name.canonicalize(), qq.rdtype)
    cur = name
    for _ in range(8):
        if cur not in zone:
            if cur == name:
                r.set_rcode(dns.rcode.NXDOMAIN)
            break
        types = zone[cur]
        if tname in types:
            r.answer.append(dns.rrset.from_text_list(cur, 60, dns.rdataclass.IN, tname,
                                                     types[tname], origin=dns.name.root, relativize=False))
            break
        if "CNAME" in types and tname != "CNAME":
            target = types["CNAME"][0].lower().rstrip(".") + "."
            r.answer.append(dns.rrset.from_text_list(cur, 60, dns.rdataclass.IN, "CNAME",
                                                     [target], origin=dns.name.root, relativize=False))
            cur = target
            continue
        break
    return r


class UDP(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        r = answer(data, "udp")
        if r is None:
            return
        try:
            q = dns.message.from_wire(data)
            limit = max(512, q.payload) if q.edns >= 0 else 512
            name = q.question[0].name.to_text().lower()
        except Exception:
            limit, name = 512, ""
        out = r.to_wire(max_size=65535)
        if len(out) > limit or special.get(name, {}).get("TCPONLY"):
            r.answer = []
            r.flags |= dns.flags.TC
            out = r.to_wire()
        sock.sendto(out, self.client_address)


class TCP(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(30)
        try:
            while True:
                hdr = s.recv(2, socket.MSG_WAITALL)
                if len(hdr) < 2:
                    return
                (n,) = struct.unpack("!H", hdr)
                r = answer(s.recv(n, socket.MSG_WAITALL), "tcp")
                if r is None:
                    continue  # TIMEOUT: read on, never answer
                out = r.to_wire(max_size=65535)
                s.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return


socketserver.ThreadingUDPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.allow_reuse_address = True
for _ in range(50):
    u = socketserver.ThreadingUDPServer(("127.0.0.1", 0), UDP)
    port = u.server_address[1]
    try:
        t = socketserver.ThreadingTCPServer(("127.0.0.1", port), TCP)
        break
    except OSError:
        u.server_close()
else:
    sys.exit("no free port")
for srv in (u, t):
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(port_file + ".tmp", port_file)
threading.Event().wait()
