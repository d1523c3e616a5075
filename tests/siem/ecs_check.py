#!/usr/bin/python3
"""ecs_check.py FIELDS EVENTS.jsonl... - check bulkwarden's event lines
against the ECS field list kept in the tree (tests/siem/ecs-fields.txt).

Every key outside "bulkwarden." must be an ECS field of the list; the
categorization fields must hold ECS's allowed values, each event.type
expected for at least one of the event's categories; every event carries
ecs.version (the list's), event.category, event.type, host.name,
observer.hostname and service.name = "bulkwarden". Prints one TAP-like
line per file and problem; exit 1 on any problem."""
import json
import sys

REQUIRED = ("ecs.version", "event.kind", "event.dataset", "event.category", "event.type",
            "host.name", "observer.hostname", "service.name", "@timestamp")


def load(path):
    fields, allowed, expected, version = {}, {}, {}, None
    for line in open(path, encoding="utf-8"):
        w = line.split()
        if not w or w[0].startswith("#"):
            continue
        if w[0] == "ecs-version":
            version = w[1]
        elif w[0] == "field":
            fields[w[1]] = w[2]
        elif w[0] == "allowed":
            allowed[w[1]] = set(w[2:])
        elif w[0] == "expected-types":
            expected[w[1]] = set(w[2:])
    return fields, allowed, expected, version


def problems(ev, fields, allowed, expected, version):
    out = []
    for k in ev:
        if k.startswith("bulkwarden."):
            continue
        if k not in fields:
            out.append("%s is not an ECS field (own fields go under bulkwarden.)" % k)
    for k in REQUIRED:
        if k not in ev:
            out.append("missing %s" % k)
    if ev.get("ecs.version", version) != version:
        out.append("ecs.version %r, field list is %s" % (ev.get("ecs.version"), version))
    if ev.get("service.name", "bulkwarden") != "bulkwarden":
        out.append("service.name %r" % ev.get("service.name"))
    for k, ok in allowed.items():
        v = ev.get(k)
        if v is None:
            continue
        for x in (v if isinstance(v, list) else [v]):
            if x not in ok:
                out.append("%s value %r is not allowed by ECS" % (k, x))
    cats = ev.get("event.category", [])
    for t in ev.get("event.type", []):
        if not any(t in expected.get(c, ()) for c in cats):
            out.append("event.type %r is not expected for categories %s" % (t, cats))
    return out


def main():
    fields, allowed, expected, version = load(sys.argv[1])
    bad = n = 0
    datasets = set()
    for path in sys.argv[2:]:
        for lineno, line in enumerate(open(path, encoding="utf-8"), 1):
            ev = json.loads(line)
            n += 1
            datasets.add(ev.get("event.dataset"))
            for p in problems(ev, fields, allowed, expected, version):
                bad += 1
                if bad <= 20:
                    print("not ok - %s:%d %s: %s" % (path, lineno, ev.get("event.dataset"), p))
    if n == 0:
        print("not ok - no event lines to check")
        return 1
    print("# %d events checked, datasets: %s" % (n, " ".join(sorted(str(d) for d in datasets))))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
