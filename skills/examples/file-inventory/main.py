"""file-inventory: size, SHA-256, kind and line count of each file; groups of identical files.

Input (stdin): {"files": [{"path": "a/b.txt", "content": TEXT, "encoding": "utf8" | "base64"}]}
Output (stdout): {"files": [{"path", "size", "sha256", "kind", "lines"}], "totalBytes", "duplicates"}
Also writes /output/SHA256SUMS (sha256sum's format), so `sha256sum -c` can check the originals.
"""
import base64
import hashlib
import json
import os
import sys
from collections import defaultdict


def is_text(data):
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def main():
    req = json.load(sys.stdin)
    out, by_hash, total = [], defaultdict(list), 0
    for f in req["files"]:
        raw = base64.b64decode(f["content"], validate=True) if f.get("encoding") == "base64" else f["content"].encode("utf-8")
        digest = hashlib.sha256(raw).hexdigest()
        text = is_text(raw)
        out.append({"path": f["path"], "size": len(raw), "sha256": digest,
                    "kind": "text" if text else "binary",
                    "lines": raw.count(b"\n") + (1 if raw and not raw.endswith(b"\n") else 0) if text else None})
        by_hash[digest].append(f["path"])
        total += len(raw)
    out.sort(key=lambda e: e["path"])
    duplicates = sorted(sorted(paths) for paths in by_hash.values() if len(paths) > 1)
    out_dir = os.environ.get("AAS_OUTPUT", "/output")
    if os.path.isdir(out_dir):
        with open(os.path.join(out_dir, "SHA256SUMS"), "w") as sums:
            for e in out:
                sums.write(f"{e['sha256']}  {e['path']}\n")
    json.dump({"files": out, "totalBytes": total, "duplicates": duplicates}, sys.stdout)


main()
