"""PassportEye on a `kvt-gen documents` set, for docs/benchmarks.md ("KYC").

usage: python bench_passporteye.py DIR TODAY
Same measures as examples/kyc_eval.rs: the birth date is "right" when the
MRZ is valid (every check digit) and its date of birth is the true one; a
file goes to review when no valid MRZ is found or its expiry has passed.
"""
import datetime
import json
import statistics
import sys
import time
from collections import defaultdict

from passporteye import read_mrz


def century(yymmdd, today):
    for c in (2000, 1900):
        try:
            d = datetime.date(c + int(yymmdd[0:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
        except ValueError:
            return None
        if d <= today and today.year - d.year <= 120:
            return d
    return None


def main():
    folder, today = sys.argv[1], datetime.date.fromisoformat(sys.argv[2])
    rows = defaultdict(lambda: {"n": 0, "right": 0, "review": 0, "bad": 0, "ms": []})
    for line in open(f"{folder}/manifest.jsonl"):
        c = json.loads(line)
        t = time.perf_counter()
        try:
            m = read_mrz(f"{folder}/{c['file']}")
        except Exception:
            m = None
        ms = (time.perf_counter() - t) * 1000
        decision = "en_attente"
        birth = None
        if m is not None and m.valid:
            d = m.to_dict()
            birth = century(d.get("date_of_birth", ""), today)
            try:
                e = d.get("expiration_date", "")
                expiry = datetime.date(2000 + int(e[0:2]), int(e[2:4]), int(e[4:6]))
            except ValueError:
                expiry = None
            if birth and expiry and expiry >= today:
                age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
                decision = "majeur" if age >= 18 else "mineur"
        r = rows[c["degradation"]]
        r["n"] += 1
        r["right"] += int(birth is not None and birth.isoformat() == c["birth"])
        r["review"] += int(decision == "en_attente")
        r["bad"] += int(decision not in c["acceptable"])
        r["ms"].append(ms)
    print("passporteye: degradation | n | birth date right | review | unacceptable | p50 ms | p95 ms")
    every = {"n": 0, "right": 0, "review": 0, "bad": 0, "ms": []}
    for name in sorted(rows) + ["ALL"]:
        r = every if name == "ALL" else rows[name]
        if name != "ALL":
            for k in ("n", "right", "review", "bad"):
                every[k] += r[k]
            every["ms"] += r["ms"]
        ms = sorted(r["ms"])
        p95 = ms[min(len(ms) - 1, round((len(ms) - 1) * 0.95))]
        print(f"  {name:12} | {r['n']:3} | {100*r['right']/r['n']:5.1f}% | {100*r['review']/r['n']:5.1f}% | "
              f"{r['bad']:3} | {statistics.median(ms):6.0f} | {p95:6.0f}")


main()
