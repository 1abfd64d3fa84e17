"""log-summary: counts by level, top error messages (variable parts masked), time span.

Input (stdin): {"log": TEXT, "top": 5}
Output (stdout): {"lines", "levels", "topErrors": [{"message", "count"}], "firstTimestamp", "lastTimestamp"}
"""
import json
import re
import sys
from collections import Counter

LEVELS = {"TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "NOTICE": "INFO", "WARN": "WARN",
          "WARNING": "WARN", "ERROR": "ERROR", "ERR": "ERROR", "FATAL": "FATAL", "CRITICAL": "FATAL"}
LEVEL_RE = re.compile(r"\b(" + "|".join(LEVELS) + r")\b:?", re.IGNORECASE)
TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
MASKS = [
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<ip>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\d+"), "<n>"),
]


def mask(message):
    for pattern, repl in MASKS:
        message = pattern.sub(repl, message)
    return message


def main():
    req = json.load(sys.stdin)
    top = int(req.get("top", 5))
    levels, errors = Counter(), Counter()
    first = last = None
    lines = [l for l in req["log"].splitlines() if l.strip()]
    for line in lines:
        ts = TS_RE.search(line)
        if ts:
            first = first or ts.group(0)
            last = ts.group(0)
        m = LEVEL_RE.search(line)
        level = LEVELS[m.group(1).upper()] if m else "UNKNOWN"
        levels[level] += 1
        if level in ("ERROR", "FATAL"):
            errors[mask(line[m.end():].strip())] += 1
    json.dump({
        "lines": len(lines),
        "levels": dict(sorted(levels.items(), key=lambda kv: (-kv[1], kv[0]))),
        "topErrors": [{"message": msg, "count": n} for msg, n in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))[:top]],
        "firstTimestamp": first,
        "lastTimestamp": last,
    }, sys.stdout)


main()
