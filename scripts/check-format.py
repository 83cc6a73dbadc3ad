#!/usr/bin/env python3
"""Fails when the Swift sources do not follow .swift-format: every `swift format lint` finding
counts, except a line over the length limit whose excess is one string literal (help texts and
messages stay on one line so that they can be searched for)."""
import re
import subprocess
import sys

LIMIT = 130
result = subprocess.run(
    ["swift", "format", "lint", "-r", "Sources", "Tests", "Benchmarks"], capture_output=True, text=True)
problems = []
for line in (result.stdout + result.stderr).splitlines():
    match = re.match(r"(.+?):(\d+):\d+: warning: \[(\w+)\]", line)
    if not match:
        continue
    path, number, rule = match.group(1), int(match.group(2)), match.group(3)
    if rule == "LineLength":
        source = open(path, encoding="utf-8").read().splitlines()[number - 1]
        without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', source)
        if len(without_strings) <= LIMIT:
            continue
    problems.append(line)
if problems:
    print("\n".join(problems))
    print(f"check-format: {len(problems)} finding(s); run: swift format -i -r Sources Tests Benchmarks")
    sys.exit(1)
print("check-format: the sources follow .swift-format (long lines only for string literals)")
