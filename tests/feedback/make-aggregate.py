#!/usr/bin/python3
"""make-aggregate.py [DIR] - write the DMARC aggregate report part of the
feedback corpus (tests/feedback/corpus, committed; this script says how
each file was made and rebuilds them byte for byte: gzip and zip times are
pinned). Shapes follow RFC 7489 appendix C and the reports Google, Yahoo
and Microsoft publish; the hostile ones attack the parser, the
decompressors and the size caps. Expected results are in expect.txt."""
import gzip
import io
import os
import struct
import sys
import zipfile
import zlib
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
BEGIN, END = 1764892800, 1764979199  # 2025-12-05 00:00:00 .. 23:59:59 UTC


def row(ip, count, hfrom, dkim="pass", spf="pass", disp="none", sel="nl2026"):
    return (f"<record><row><source_ip>{ip}</source_ip><count>{count}</count>"
            f"<policy_evaluated><disposition>{disp}</disposition><dkim>{dkim}</dkim>"
            f"<spf>{spf}</spf></policy_evaluated></row>"
            f"<identifiers><header_from>{hfrom}</header_from></identifiers>"
            f"<auth_results><dkim><domain>{hfrom}</domain><selector>{sel}</selector>"
            f"<result>{dkim}</result></dkim><spf><domain>{hfrom}</domain>"
            f"<result>{spf}</result></spf></auth_results></record>\n")


def report(org, rid, rows, email="dmarc@example.org", head='<?xml version="1.0" encoding="UTF-8" ?>\n',
           root="<feedback>", extra_meta="", policy="<p>none</p><sp>none</sp><pct>100</pct>", version=""):
    return (f"{head}{root}\n{version}<report_metadata><org_name>{org}</org_name><email>{email}</email>"
            f"{extra_meta}<report_id>{rid}</report_id><date_range><begin>{BEGIN}</begin>"
            f"<end>{END}</end></date_range></report_metadata>\n"
            f"<policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf>"
            f"{policy}</policy_published>\n" + "".join(rows) + "</feedback>\n")


def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def gz(data):
    b = io.BytesIO()
    with gzip.GzipFile(fileobj=b, mode="wb", mtime=0, filename="") as g:
        g.write(data if isinstance(data, bytes) else data.encode())
    return b.getvalue()


def zipped(name, data):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return b.getvalue()


def mail(org_addr, subject, payload, ctype, fname):
    m = MIMEMultipart(boundary="=_agg_" + fname.split("!")[0].replace(".", "_"))
    m["From"] = org_addr
    m["To"] = "dmarc-rua@example.com"
    m["Subject"] = subject
    m["Date"] = "Sat, 06 Dec 2025 01:02:03 +0000"
    m["Message-ID"] = "<agg-%s@reports.example.net>" % fname.split("!")[0]
    m.attach(MIMEText("This is an aggregate report from %s.\n" % org_addr))
    maintype, subtype = ctype.split("/")
    a = MIMEApplication(payload, subtype) if maintype == "application" else MIMEText(payload.decode(), subtype)
    a.replace_header("Content-Type", ctype + '; name="%s"' % fname)
    a.add_header("Content-Disposition", "attachment", filename=fname)
    m.attach(a)
    return m.as_bytes()


# RFC 7489 appendix C: the schema's shape, no version, no namespace.
put("agg-rfc7489.xml", report("acme.example", "9391651994964116463",
                              [row("203.0.113.7", 2, "news.example.com")]))

# Google: zip named receiver!domain!begin!end.xml, extra_contact_info, np.
google = report("google.com", "12021873454129839671",
                [row("203.0.113.7", 120, "news.example.com"),
                 row("198.51.100.25", 30, "receipts.example.com", sel="rc1"),
                 row("192.0.2.99", 5, "news.example.com", dkim="fail", spf="fail", disp="none")],
                email="noreply-dmarc-support@google.com",
                extra_meta="<extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>",
                policy="<p>none</p><sp>none</sp><pct>100</pct><np>none</np>")
gname = "google.com!example.com!%d!%d.xml" % (BEGIN, END)
put("agg-google.zip", zipped(gname, google))
put("agg-google-attachment.eml",
    mail("noreply-dmarc-support@google.com", "Report domain: example.com Submitter: google.com Report-ID: 12021873454129839671",
         zipped(gname, google), "application/zip", gname + ".zip"))

# Yahoo: gzip, a DKIM-only pass row.
put("agg-yahoo.xml.gz", gz(report("Yahoo", "1764979199.586324", [
    row("198.51.100.25", 40, "receipts.example.com", sel="rc1"),
    row("198.51.100.25", 3, "receipts.example.com", spf="fail", sel="rc1")],
    email="dmarchelp@yahooinc.com")))

# Microsoft: gzip attached as application/gzip, xmlns attributes, version, fo.
ms = report("Outlook.com", "5f3c2a1e9b8d4c7f8e6a0b1c2d3e4f50",
            [row("203.0.113.7", 10, "news.example.com"),
             row("2001:db8::25", 7, "news.example.com", dkim="fail", spf="fail", disp="none")],
            email="dmarcreport@microsoft.com", head='<?xml version="1.0"?>\n',
            root='<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
            version="<version>1.0</version>", policy="<p>none</p><sp>none</sp><pct>100</pct><fo>0</fo>")
mname = "enterprise.protection.outlook.com!example.com!%d!%d.xml.gz" % (BEGIN, END)
put("agg-microsoft.eml", mail("dmarcreport@microsoft.com", "Report Domain: example.com Submitter: enterprise.protection.outlook.com",
                              gz(ms), "application/gzip", mname))

# DMARCbis namespace; a row for a domain no identity names, from the
# vendor address only receipts lists: attributed by egress IP.
put("agg-dmarcbis-ns.xml", report("mail.example.net", "bis-1", [
    row("198.51.100.25", 4, "shop.example.org")],
    root='<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">', version="<version>1.0</version>"))

# ISO-8859-1, declared as such: converted, usable.
put("agg-latin1.xml", report("Exämple Bänk", "latin-1", [row("203.0.113.7", 1, "news.example.com")],
                             head='<?xml version="1.0" encoding="ISO-8859-1"?>\n').encode("latin-1"))

# --- hostile ---
laughs = ('<?xml version="1.0"?>\n<!DOCTYPE feedback [\n <!ENTITY lol "lol">\n'
          + "".join(' <!ENTITY lol%d "%s">\n' % (i, ("&lol%d;" % (i - 1) if i > 1 else "&lol;") * 10) for i in range(1, 10))
          + "]>\n" + report("&lol9;", "laughs", [row("203.0.113.7", 1, "news.example.com")], head=""))
put("hostile-agg-billion-laughs.xml", laughs)
put("hostile-agg-xxe.xml", '<?xml version="1.0"?>\n<!DOCTYPE feedback [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
    + report("&xxe;", "xxe", [row("203.0.113.7", 1, "news.example.com")], head=""))
put("hostile-agg-external-dtd.xml", '<?xml version="1.0"?>\n<!DOCTYPE feedback SYSTEM "file:///etc/passwd">\n'
    + report("dtd", "dtd", [row("203.0.113.7", 1, "news.example.com")], head=""))
# zip bomb: one 100 MiB member of zeros (declared honestly: refused before inflating)
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bomb.xml", (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with z.open(info, "w", force_zip64=False) as f:
        f.write(b"<feedback>")
        for _ in range(100):
            f.write(b" " * (1 << 20))
put("hostile-agg-zip-bomb.zip", b.getvalue())
# zip that lies: a 2 MiB member whose headers declare 1,000 bytes
data = report("liar", "liar", [row("203.0.113.7", 1, "news.example.com")]) + "<!--" + " " * (2 << 20) + "-->"
z = bytearray(zipped("liar.xml", data))
true_size = len(data.encode())
for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    i = z.find(sig)
    assert struct.unpack_from("<I", z, i + off)[0] == true_size
    struct.pack_into("<I", z, i + off, 1000)
put("hostile-agg-zip-liar.zip", bytes(z))
# gzip bomb: 100 MiB of blanks after the root element
c = zlib.compressobj(9, zlib.DEFLATED, 31)
g = c.compress(b"<feedback>") + b"".join(c.compress(b" " * (1 << 20)) for _ in range(100)) + c.flush()
put("hostile-agg-gzip-bomb.xml.gz", g)
# truncated gzip: the Yahoo report cut in the middle of its deflate stream
y = gz(report("Yahoo", "cut", [row("198.51.100.25", 40, "receipts.example.com")] * 20))
put("hostile-agg-truncated.xml.gz", y[: len(y) // 2])
# gzip of something that is not XML
put("hostile-agg-not-xml.gz", gz(bytes(range(256)) * 16))
# more records than the limit (100,000): 100,001 identical rows
put("hostile-agg-rows.xml.gz", gz(report("rows", "rows", [row("203.0.113.7", 1, "news.example.com")] * 100001)))
# declared UTF-8, written in Latin-1
put("hostile-agg-bad-utf8.xml", report("Exämple", "utf8", [row("203.0.113.7", 1, "news.example.com")]).encode("latin-1"))
# a record whose source_ip is not an address
put("hostile-agg-bad-ip.xml", report("badip", "badip", [row("203.0.113.777", 1, "news.example.com")]))
# a <feedback> of another kind (an ARF-like root): not an aggregate report
put("hostile-agg-wrong-root.xml", '<?xml version="1.0"?>\n<report><org_name>x</org_name></report>\n')
