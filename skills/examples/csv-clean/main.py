"""csv-clean: trim cells, drop blank and duplicate rows, normalise date columns to ISO 8601.

Input (stdin): {"csv": TEXT, "delimiter": ",", "dateColumns": [NAME...], "dayFirst": false}
Output (stdout): {"csv", "rows", "removedDuplicates", "removedBlank", "unparsedDates"}
"""
import csv
import io
import json
import sys
from datetime import datetime

ISO = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
MONTH_FIRST = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")
DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
WORDS = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y")


def parse_date(value, day_first):
    text = value.strip()
    formats = ISO + (DAY_FIRST + MONTH_FIRST if day_first else MONTH_FIRST + DAY_FIRST) + WORDS
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def main():
    req = json.load(sys.stdin)
    delim = req.get("delimiter", ",")
    day_first = bool(req.get("dayFirst", False))
    rows = list(csv.reader(io.StringIO(req["csv"]), delimiter=delim))
    if not rows:
        json.dump({"csv": "", "rows": 0, "removedDuplicates": 0, "removedBlank": 0, "unparsedDates": []}, sys.stdout)
        return
    header = [c.strip() for c in rows[0]]
    date_cols = [header.index(c) for c in req.get("dateColumns", []) if c in header]
    missing = [c for c in req.get("dateColumns", []) if c not in header]
    if missing:
        print(f"csv-clean: no column named {', '.join(missing)} (header: {', '.join(header)})", file=sys.stderr)
        sys.exit(2)
    seen, out, blank, dupes, unparsed = set(), [], 0, 0, []
    for row in rows[1:]:
        cells = [c.strip() for c in row]
        if not any(cells):
            blank += 1
            continue
        for i in date_cols:
            if i < len(cells) and cells[i]:
                iso = parse_date(cells[i], day_first)
                if iso is None:
                    unparsed.append({"row": len(out) + 1, "column": header[i], "value": cells[i]})
                else:
                    cells[i] = iso
        key = tuple(cells)
        if key in seen:
            dupes += 1
            continue
        seen.add(key)
        out.append(cells)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delim, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(out)
    json.dump({"csv": buf.getvalue(), "rows": len(out), "removedDuplicates": dupes,
               "removedBlank": blank, "unparsedDates": unparsed}, sys.stdout)


main()
