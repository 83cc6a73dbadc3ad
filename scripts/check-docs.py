#!/usr/bin/env python3
"""Runs every command the documentation shows, so that a newcomer who copies a line gets what
the docs say (release-mode checks of .ci/run; a few minutes).

The commands are the README's indented code blocks and the ```bash and ```python blocks of the
DocC articles (Sources/NCA/NCA.docc/*.md), in the order below: later articles use files that
earlier ones make (runs/gs from "Train a Gray-Scott model"), as a reader going through them
would. Usage synopses are ```text blocks and are not run.

At tiny size: `--epochs N` becomes `--epochs 2` (and `nca train --preset …` without it gets
`--epochs 2`), `bash scripts/main.sh` gets `--epochs 2`. `bash scripts/test.sh` is the command CI
itself runs and is not run again. `nca` and `python3` commands run in a scratch folder with the
release `nca` and .venv's python first on PATH and three pictures A.png, B.png, C.png in it;
commands that name `swift`, `scripts/` or `.venv/` run at the repository's root.

Also checks that "Use the library from Swift" shows Examples/TrainAndRoll/main.swift as it is, and
that the Package.swift it shows builds that program as a package of a user's own beside this one.

    python3 scripts/check-docs.py [--list]     (--list: print the commands, run nothing)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOG = os.path.join(ROOT, "Sources/NCA/NCA.docc")
ARTICLES = ["TrainAGrayScottModel", "LookInsideATrainedRule", "MorphPictures", "UseTheLibraryFromSwift",
            "Performance", "FileFormats"]
EXAMPLE = os.path.join(ROOT, "Examples/TrainAndRoll/main.swift")
TIMEOUT = 1200


def readme_blocks(text):
    """Indented (4-space) code blocks that follow a blank line and are not inside a list."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].startswith("    ") and (i == 0 or lines[i - 1].strip() == "") and \
                not (i >= 2 and re.match(r"\s*([-*]|\d+\.)\s", lines[i - 2])):
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or lines[i].strip() == ""):
                block.append(lines[i][4:])
                i += 1
            blocks.append(("bash", "\n".join(block).strip(), i))
        i += 1
    return blocks


def fenced_blocks(text):
    return [(m.group(1), m.group(2).rstrip("\n"), text[:m.start()].count("\n") + 1)
            for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def commands(block):
    """Splits a shell block into commands: continuation lines joined, blank lines dropped."""
    out, current = [], ""
    for line in block.split("\n"):
        current += line
        if current.rstrip().endswith("\\"):
            current = current.rstrip()[:-1] + " "
            continue
        if current.strip():
            out.append(current.strip())
        current = ""
    return out


def tiny(command):
    """The command at CI size, or None when it is not run here (with the reason printed)."""
    if re.search(r"\bscripts/test\.sh\b", command):
        return None
    command = re.sub(r"--epochs \d+", "--epochs 2", command)
    if re.search(r"\bnca train --preset\b", command) and "--epochs" not in command:
        command = re.sub(r"(\bnca train --preset \S+)", r"\1 --epochs 2", command)
    if re.search(r"\bscripts/main\.sh\b", command) and "--epochs" not in command:
        command = re.sub(r"(scripts/main\.sh)", r"\1 --epochs 2", command)
    return command


def main():
    listing = "--list" in sys.argv
    failures = []
    # The library article shows the example program exactly.
    article = open(os.path.join(CATALOG, "UseTheLibraryFromSwift.md")).read()
    shown = [body for lang, body, _ in fenced_blocks(article) if lang == "swift" and "import NCA" in body]
    if [s.rstrip() for s in shown] != [open(EXAMPLE).read().rstrip()]:
        failures.append("UseTheLibraryFromSwift.md does not show Examples/TrainAndRoll/main.swift as it is "
                        "(copy the file into the article's ```swift block)")

    # The article's Package.swift, as a package of a user's own next to a clone of this one.
    manifests = [body for lang, body, _ in fenced_blocks(article) if lang == "swift" and "PackageDescription" in body]
    if not listing and manifests:
        study = tempfile.mkdtemp(prefix="nca-study-")
        os.symlink(ROOT, os.path.join(study, "nca"))
        os.makedirs(os.path.join(study, "MyStudy/Sources/MyStudy"))
        open(os.path.join(study, "MyStudy/Package.swift"), "w").write(manifests[0] + "\n")
        shutil.copy(EXAMPLE, os.path.join(study, "MyStudy/Sources/MyStudy/main.swift"))
        start = time.time()
        built = subprocess.run(["swift", "build", "-c", "release"], cwd=os.path.join(study, "MyStudy"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ran = built.returncode == 0 and subprocess.run(
            [os.path.join(study, "MyStudy/.build/release/MyStudy"), os.path.join(study, "out")],
            stdout=subprocess.DEVNULL).returncode == 0
        print(f"docs: UseTheLibraryFromSwift.md: a package of one's own with the article's Package.swift "
              f"{'builds and runs' if ran else 'FAILED'} ({time.time() - start:.1f} s)", flush=True)
        if not ran:
            print("\n".join(built.stdout.strip().split("\n")[-15:]))
            failures.append("UseTheLibraryFromSwift.md: the Package.swift it shows does not build the example")
        shutil.rmtree(study, ignore_errors=True)

    documents = [("README.md", readme_blocks(open(os.path.join(ROOT, "README.md")).read()))]
    for name in ARTICLES:
        documents.append((f"Sources/NCA/NCA.docc/{name}.md",
                          [b for b in fenced_blocks(open(os.path.join(CATALOG, name + ".md")).read())
                           if b[0] in ("bash", "sh", "python")]))
    if listing:
        for doc, blocks in documents:
            for lang, body, line in blocks:
                for c in (commands(body) if lang != "python" else [body]):
                    print(f"{doc}:{line}: [{lang}] {tiny(c) or '(not run: what CI runs) ' + c}")
        return 0

    subprocess.run(["swift", "build", "-c", "release", "--product", "nca"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    top = tempfile.mkdtemp(prefix="nca-docs-")
    os.makedirs(os.path.join(top, "bin"))
    os.symlink(os.path.join(ROOT, ".build/release/nca"), os.path.join(top, "bin/nca"))
    # The README in one folder, the articles (which build on each other) in another.
    folders = {}
    for name in ["readme", "articles"]:
        folders[name] = os.path.join(top, name)
        os.makedirs(folders[name])
        for picture, source in zip(["A", "B", "C"], ["png_rgb8", "png_rgba8", "png_palette"]):
            shutil.copy(os.path.join(ROOT, f"Tests/NCATests/Fixtures/{source}.png"),
                        os.path.join(folders[name], picture + ".png"))
    env = dict(os.environ)
    env["PATH"] = os.path.join(top, "bin") + ":" + os.path.join(ROOT, ".venv/bin") + ":" + env["PATH"]
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    count = 0
    for doc, blocks in documents:
        scratch = folders["readme" if doc == "README.md" else "articles"]
        for lang, body, line in blocks:
            runs = [["python3", "-c", body]] if lang == "python" else []
            if lang != "python":
                for c in commands(body):
                    t = tiny(c)
                    if t is None:
                        print(f"docs: {doc}:{line}: `{c}` is what CI runs; not run again")
                        continue
                    runs.append(["bash", "-euo", "pipefail", "-c", t])
            for argv in runs:
                shown_command = argv[-1].split("\n")[0]
                at_root = re.search(r"(^|\s)(swift |\S*scripts/|\.venv/)", argv[-1]) is not None
                start = time.time()
                try:
                    result = subprocess.run(argv, cwd=ROOT if at_root else scratch, env=env, timeout=TIMEOUT,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    ok, output = result.returncode == 0, result.stdout
                except subprocess.TimeoutExpired:
                    ok, output = False, f"timed out after {TIMEOUT} s"
                count += 1
                status = "ok" if ok else "FAILED"
                print(f"docs: {doc}:{line}: {status} ({time.time() - start:.1f} s) {shown_command}", flush=True)
                if not ok:
                    print("\n".join(output.strip().split("\n")[-15:]))
                    failures.append(f"{doc}:{line}: {shown_command}")
    shutil.rmtree(top, ignore_errors=True)
    for f in failures:
        print(f"docs: FAILED {f}")
    if failures:
        return 1
    print(f"docs: all {count} commands of README.md and the articles ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
