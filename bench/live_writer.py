#!/usr/bin/env python3
"""live_writer.py: the writer and the freshness probe of scripts/bench-live.sh.

    bench/live_writer.py --port PORT --pid PID --products N --slugs FILE
                         [--seconds 15] [--rate 10] [--seed 1]

Connects one psql (DATABASE_URL, fed through a pipe) and commits --rate
single-row transactions per second for --seconds, a mix of price updates,
title or description updates, inserts (a copy of a product under a new
slug) and deletes (of the products it inserted, so that the slugs a load
generator asks for never disappear). Products 1..N exist when it starts.

Meanwhile a probe measures write-to-visible latency. It picks a few pairs
(Q, P) where P is Q's best recommendation. When the probe is idle, a price
update slot changes the price of some P and the probe polls Q's
recommendations until P is listed with the new price; a title or
description slot changes P's title and the probe polls P's own
recommendations until the product shows the new title. Latency runs from
the moment psql reports the commit to the end of the first answer that
shows it (time.monotonic). The probe products are left out of the random
writes.

A third thread samples VmRSS of PID every 100 ms.

Prints "started" when the writes begin, then key=value lines at the end:
committed writes per kind, the latencies, the probe's lost connections
(each tried again, up to 5 times) and the peak VmRSS. Exits non-zero when
psql fails, an answer is not 2xx, a request fails 5 times or PID
disappears.
"""
import argparse
import http.client
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time

WEIGHTS = {"price": 40, "text": 30, "insert": 15, "delete": 15}


class Psql:
    """One psql session; each statement is its own transaction (autocommit)."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["psql", os.environ["DATABASE_URL"], "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.n = 0

    def run(self, sql):
        """Runs sql; returns its output lines once psql has the commit's answer."""
        self.n += 1
        marker = "@@done %d" % self.n
        self.proc.stdin.write(sql + ";\n\\echo " + marker + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if line == "":
                raise RuntimeError("psql exited (status %s) during: %s" % (self.proc.wait(), sql))
            line = line.rstrip("\n")
            if line == marker:
                return lines
            lines.append(line)

    def one(self, sql):
        lines = self.run(sql)
        if len(lines) != 1:
            raise RuntimeError("expected one row from %r, got %r" % (sql, lines))
        return lines[0]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class Http:
    """One keep-alive connection to the service."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.non2xx = 0
        self.errors = 0  # connections lost or timed out, then tried again

    def get(self, path):
        for attempt in range(1, 6):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                self.errors += 1
                if attempt == 5:
                    raise
                continue
            if resp.status // 100 != 2:
                self.non2xx += 1
                raise RuntimeError("GET %s: %d %s" % (path, resp.status, body[:200]))
            return json.loads(body)


def sql_text(s):
    return "'" + s.replace("'", "''") + "'"


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    k = max(1, -(-len(v) * p // 100))  # ceil
    return v[int(k) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--products", type=int, required=True)
    ap.add_argument("--slugs", required=True)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=8)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    # The probe's pairs: Q from the load's slugs, P its best recommendation.
    web = Http(args.port)
    with open(args.slugs) as f:
        slugs = [s.strip() for s in f if s.strip()]
    pairs, used = [], set()
    for q_slug in rng.sample(slugs, min(len(slugs), 10 * args.pairs)):
        if len(pairs) == args.pairs:
            break
        ans = web.get("/products/%s/recommendations?limit=20" % q_slug)
        q_id = ans["product"]["id"]
        if not ans["recommendations"]:
            continue
        p = ans["recommendations"][0]
        if q_id in used or p["id"] in used:
            continue
        used.update((q_id, p["id"]))
        pairs.append({"q_slug": q_slug, "p_id": p["id"], "p_slug": p["slug"],
                      "title": p["title"], "plus": False})
    if not pairs:
        raise RuntimeError("no probe pairs found")

    db = Psql()
    db.run("SELECT 1")
    stop = threading.Event()
    failures = []

    # RSS sampler
    rss_max = [0]

    def sample_rss():
        while not stop.is_set():
            try:
                with open("/proc/%d/status" % args.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss_max[0] = max(rss_max[0], int(line.split()[1]))
            except OSError:
                failures.append("the service (pid %d) is gone" % args.pid)
                stop.set()
                return
            stop.wait(0.1)

    # Probe: waits for a committed change, polls until an answer shows it.
    probes = queue.Queue()
    idle = threading.Event()
    idle.set()
    visible = {"price": [], "title": []}
    lost = {"price": 0, "title": 0}

    def probe():
        web_probe = Http(args.port)
        while True:
            item = probes.get()
            if item is None:
                return
            kind, pair, value, t0 = item
            try:
                while True:
                    if kind == "price":
                        ans = web_probe.get("/products/%s/recommendations?limit=20"
                                            % pair["q_slug"])
                        seen = [r for r in ans["recommendations"] if r["id"] == pair["p_id"]]
                        done = bool(seen) and seen[0]["price_cents"] == value
                    else:
                        ans = web_probe.get("/products/%s/recommendations" % pair["p_slug"])
                        done = ans["product"]["title"] == value
                    t1 = time.monotonic()
                    if done:
                        visible[kind].append((t1 - t0) * 1000)
                        break
                    if t1 - t0 > 30:
                        lost[kind] += 1
                        break
            except Exception as e:  # noqa: BLE001 - reported, fails the run
                failures.append("probe: %s" % e)
                stop.set()
            idle.set()
            web.non2xx += web_probe.non2xx
            web.errors += web_probe.errors
            web_probe.non2xx = web_probe.errors = 0

    threads = [threading.Thread(target=sample_rss, daemon=True),
               threading.Thread(target=probe, daemon=True)]
    for t in threads:
        t.start()

    probe_ids = used
    inserted = []
    committed = {"price": 0, "text": 0, "insert": 0, "delete": 0}
    probe_writes = 0
    seq = 0
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())

    def random_id():
        while True:
            i = rng.randint(1, args.products)
            if i not in probe_ids:
                return i

    print("started", flush=True)
    start = time.monotonic()
    slot = 0
    try:
        while not stop.is_set():
            due = start + slot / args.rate
            if due >= start + args.seconds:
                time.sleep(max(0.0, start + args.seconds - time.monotonic()))
                break
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            slot += 1
            kind = rng.choices(kinds, weights)[0]
            if kind == "delete" and not inserted:
                kind = "insert"
            if kind in ("price", "text") and idle.is_set():
                pair = rng.choice(pairs)
                if kind == "price":
                    value = int(db.one("UPDATE products SET price_cents = price_cents + 1 "
                                       "WHERE id = %d RETURNING price_cents" % pair["p_id"]))
                    probe_kind = "price"
                else:
                    # the title alternates between the original and a longer one
                    pair["plus"] = not pair["plus"]
                    new = pair["title"] + " Plus" if pair["plus"] else pair["title"]
                    value = db.one("UPDATE products SET title = %s WHERE id = %d RETURNING title"
                                   % (sql_text(new), pair["p_id"]))
                    probe_kind = "title"
                t0 = time.monotonic()
                idle.clear()
                probes.put((probe_kind, pair, value, t0))
                probe_writes += 1
            elif kind == "price":
                db.one("UPDATE products SET price_cents = price_cents + 1 WHERE id = %d "
                       "RETURNING id" % random_id())
            elif kind == "text":
                if rng.random() < 0.5:
                    db.one("UPDATE products SET title = CASE WHEN title LIKE '%% Edition' "
                           "THEN left(title, -8) ELSE title || ' Edition' END "
                           "WHERE id = %d RETURNING id" % random_id())
                else:
                    db.one("UPDATE products SET description = CASE WHEN description LIKE "
                           "'%% Back in stock.' THEN left(description, -15) "
                           "ELSE description || ' Back in stock.' END "
                           "WHERE id = %d RETURNING id" % random_id())
            elif kind == "insert":
                seq += 1
                new_id = db.one("INSERT INTO products (slug, title, description, price_cents, "
                                "category_id) SELECT slug || '-live-%d', title, description, "
                                "price_cents, category_id FROM products WHERE id = %d "
                                "RETURNING id" % (seq, random_id()))
                inserted.append(int(new_id))
            else:
                db.one("DELETE FROM products WHERE id = %d RETURNING id" % inserted.pop(0))
            committed[kind] += 1
        elapsed = time.monotonic() - start
        # let the last probe finish (it has 30 s at most)
        idle.wait(35)
    except Exception as e:  # noqa: BLE001 - reported, fails the run
        failures.append("writer: %s" % e)
        elapsed = time.monotonic() - start
    stop.set()
    probes.put(None)
    for t in threads:
        t.join(40)
    db.close()

    total = sum(committed.values())
    out = {
        "writes": total,
        "seconds": "%.1f" % elapsed,
        "rate": "%.1f" % (total / elapsed if elapsed > 0 else 0),
        "price": committed["price"],
        "text": committed["text"],
        "insert": committed["insert"],
        "delete": committed["delete"],
        "probe_writes": probe_writes,
        "pairs": len(pairs),
        "non2xx": web.non2xx,
        "http_errors": web.errors,
        "rss_max_kb": rss_max[0],
    }
    for kind in ("price", "title"):
        v = visible[kind]
        out[kind + "_n"] = len(v)
        out[kind + "_lost"] = lost[kind]
        out[kind + "_p50"] = "%.2f" % percentile(v, 50) if v else "-"
        out[kind + "_p99"] = "%.2f" % percentile(v, 99) if v else "-"
        out[kind + "_max"] = "%.2f" % max(v) if v else "-"
    for k, v in out.items():
        print("%s=%s" % (k, v))
    for f in failures:
        print("live_writer: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
