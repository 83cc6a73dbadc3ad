#!/usr/bin/env python3
"""Checks that every public symbol of the NCA library has a documentation summary.

Reads the symbol graphs that `swift package generate-documentation --target NCA` extracts
(or any folder of `NCA*.symbols.json` given as the argument) and lists each public symbol
without a doc comment, as file:line, kind and name. A member that implements a protocol
requirement inherits the requirement's documentation (DocC shows it), so it needs none of
its own; so do compiler-synthesised members. Exit status 1 if anything is missing.
"""
import glob
import json
import os
import sys

folder = sys.argv[1] if len(sys.argv) > 1 else ".build/*/extracted-symbols/*/NCA"
files = sorted(glob.glob(os.path.join(folder, "NCA*.symbols.json")))
if not files:
    sys.exit(f"check-doc-coverage: no NCA symbol graphs in {folder}; run "
             "`swift package generate-documentation --target NCA` first")
missing, total = [], 0
for path in files:
    graph = json.load(open(path))
    inherited = {r["source"] for r in graph["relationships"] if r.get("sourceOrigin")}
    for symbol in graph["symbols"]:
        precise = symbol["identifier"]["precise"]
        if symbol["accessLevel"] not in ("public", "open") or "::SYNTHESIZED::" in precise:
            continue
        total += 1
        if symbol.get("docComment") or precise in inherited:
            continue
        location = symbol.get("location", {})
        uri = location.get("uri", "?").split("/Sources/")[-1]
        line = location.get("position", {}).get("line", 0) + 1
        missing.append(f"Sources/{uri}:{line}: {symbol['kind']['displayName'].lower()} "
                       f"{'.'.join(symbol['pathComponents'])} has no documentation summary")
for entry in sorted(missing):
    print(entry)
print(f"check-doc-coverage: {total - len(missing)} of {total} public symbols documented")
sys.exit(1 if missing else 0)
