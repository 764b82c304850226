"""Reading audit logs: JSON lines, EventList documents, gzip, stdin, bad lines, time order, follow."""

from __future__ import annotations

import gzip
import io
import os
import sys
import threading
import time

import orjson

from kubeharden.detect.simulate import make_event
from kubeharden.sources.audit import AuditReadOptions, event_time, read_events


def lines(events) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def read(paths, **opts):
    problems = []
    events = list(read_events(paths, problems.append, AuditReadOptions(**opts) if opts else None))
    return events, problems


def test_event_time_parses_rfc3339_microseconds_and_offsets():
    e = {"stageTimestamp": "2026-03-02T09:00:01.250000Z"}
    f = {"stageTimestamp": "2026-03-02T10:00:01.250000+01:00"}
    assert event_time(e) == event_time(f)
    assert event_time({"requestReceivedTimestamp": "2026-03-02T09:00:01Z"}) == event_time(e) - 0.25
    assert event_time({"stageTimestamp": "yesterday"}) == 0.0


def test_json_lines_with_bad_lines_reported_and_skipped(tmp_path):
    p = tmp_path / "audit.log"
    good = [make_event("get", "pods", at=i) for i in range(3)]
    p.write_bytes(orjson.dumps(good[0]) + b"\n{not json\n" + orjson.dumps(good[1]) + b"\n\n[1, 2]\n"
                  + orjson.dumps(good[2]) + b"\n")
    events, problems = read([str(p)])
    assert [e["auditID"] for e in events] == [g["auditID"] for g in good]
    assert [(x.line, x.kind) for x in problems] == [(2, "parse"), (5, "invalid-event")]
    assert all(x.file == str(p) for x in problems)


def test_eventlist_documents_pretty_printed_and_gzip(tmp_path):
    evs = [make_event("get", "pods", at=i) for i in range(4)]
    doc = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": evs}
    pretty = tmp_path / "list.json"
    pretty.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    zipped = tmp_path / "audit-2026-03-01.log.gz"
    zipped.write_bytes(gzip.compress(lines(evs)))
    assert [e["auditID"] for e in read([str(pretty)])[0]] == [e["auditID"] for e in evs]
    assert [e["auditID"] for e in read([str(zipped)])[0]] == [e["auditID"] for e in evs]


def test_rotated_files_merge_in_time_order(tmp_path):
    a = [make_event("get", "pods", at=t) for t in (0, 2, 4, 6)]
    b = [make_event("get", "pods", at=t) for t in (1, 3, 5)]
    (tmp_path / "audit.log").write_bytes(lines(a))
    (tmp_path / "audit-old.log.gz").write_bytes(gzip.compress(lines(b)))
    events, problems = read([str(tmp_path)])
    assert problems == []
    times = [event_time(e) for e in events]
    assert times == sorted(times) and len(times) == 7


def test_stdin(monkeypatch):
    evs = [make_event("get", "pods", at=i) for i in range(2)]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(lines(evs)))))
    events, _ = read(["-"])
    assert len(events) == 2


def test_missing_and_truncated_gzip_files(tmp_path):
    broken = tmp_path / "x.log.gz"
    broken.write_bytes(gzip.compress(lines([make_event("get", "pods")]))[:-12])
    _, problems = read([str(tmp_path / "nope.log"), str(broken)])
    kinds = sorted(p.kind for p in problems)
    assert kinds == ["read", "read"]


def test_follow_reads_appends_rotation_and_truncation(tmp_path):
    p = tmp_path / "audit.log"
    p.write_bytes(lines([make_event("get", "pods", auditID="first")]))
    seen: list[str] = []

    def reader():
        for e in read_events([str(p)], lambda _p: None, AuditReadOptions(follow=True, poll_interval=0.02,
                                                                          idle_timeout=1.0)):
            seen.append(e["auditID"])

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    with open(p, "ab") as fh:  # an append, written in two pieces (a partial line first)
        data = lines([make_event("get", "pods", auditID="appended")])
        fh.write(data[:20])
        fh.flush()
        time.sleep(0.1)
        fh.write(data[20:])
    time.sleep(0.2)
    os.rename(p, tmp_path / "audit-1.log")  # rotation: a new file under the same name
    p.write_bytes(lines([make_event("get", "pods", auditID="rotated")]))
    time.sleep(0.2)
    p.write_bytes(lines([make_event("get", "pods", auditID="t")]))  # truncated and rewritten, smaller
    t.join(timeout=5)
    assert seen[:3] == ["first", "appended", "rotated"]
    assert seen[-1] == "t"


def test_damaged_first_line_does_not_lose_the_file(tmp_path):
    p = tmp_path / "audit.log"
    good = [make_event("get", "pods", at=i) for i in range(2)]
    p.write_bytes(b'{"kind":"Event","auditID":"trunc\n' + lines(good))
    events, problems = read([str(p)])
    assert len(events) == 2 and [(x.line, x.kind) for x in problems] == [(1, "parse")]


def test_not_json_at_all(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello\nworld\n")
    events, problems = read([str(p)])
    assert events == [] and [x.line for x in problems] == [1, 2]


def test_binary_file_is_given_up_on(tmp_path):
    p = tmp_path / "image.bin"
    p.write_bytes(b"\x00\xff garbage\n" * 5000)
    events, problems = read([str(p)])
    assert events == [] and len(problems) == 50 and "not an audit log" in problems[-1].message
