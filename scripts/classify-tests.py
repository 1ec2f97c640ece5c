#!/usr/bin/env python3
"""Renames test classes to what they are (issue 14 item 7): unit tests *Tests (Surefire, `mvn test`),
tests that load engines or start JVMs, servers or containers *IT (Failsafe, `mvn verify`).

The judge is the ArchUnit rule io.trtllm.testing.TestKinds, which each module's TestKindsTests checks; this
script only applies its verdict, so the two cannot disagree. Run from the repository root:

  scripts/classify-tests.py singular        # FooTest -> FooTests (Surefire runs both; the repo says Tests)
  mvn -B -o test -Dtest=TestKindsTests -Dsurefire.failIfNoSpecifiedTests=false -pl <modules> -am
  scripts/classify-tests.py apply           # each class TestKindsTests named: FooTests -> FooIT
  scripts/classify-tests.py apply --dry-run # say what it would do

`apply` reads the violations from <module>/target/surefire-reports/*TestKindsTests.txt (or from files given
with --report). Each rename is a `git mv` of the source file plus the class name replaced as a whole word in
every tracked *.java, *.md, *.py, *.sh and .ci file (imports, references, docs, scripts). Kept in the repository, not as a one-off: other
branches add tests, and after a merge the rule may name new ones.
"""
import argparse
import pathlib
import re
import subprocess
import sys

MARK = re.compile(r"^(?P<fqcn>io\.trtllm\.[\w.$]+) is an integration test \(name it \*IT\):", re.M)
SINGULAR = re.compile(r"^(?:public\s+|final\s+|abstract\s+)*class\s+(\w+Test)\b", re.M)


def tracked(root, *patterns):
    out = subprocess.run(["git", "ls-files", *patterns], cwd=root, check=True, capture_output=True, text=True)
    return [root / p for p in out.stdout.splitlines() if (root / p).is_file()]


def source_of(root, fqcn):
    rel = fqcn.split("$")[0].replace(".", "/") + ".java"
    hits = [p for p in tracked(root, "*/src/test/java/*.java") if p.as_posix().endswith("/src/test/java/" + rel)]
    if len(hits) != 1:
        sys.exit(f"classify-tests: {fqcn}: expected one source file, found {len(hits)}")
    return hits[0]


def rename(root, src, old, new, dry_run):
    target = src.with_name(new + ".java")
    stems = [p.stem for p in tracked(root, "*.java")]
    # References are replaced by simple name: two classes of one name (in two packages) need a person.
    if stems.count(old) > 1 or new in stems:
        sys.exit(f"classify-tests: {old} -> {new}: another class is named {old} or {new}; rename it by hand")
    print(f"{src.relative_to(root)} -> {target.name}")
    if dry_run:
        return
    subprocess.run(["git", "mv", str(src), str(target)], cwd=root, check=True)
    word = re.compile(r"\b" + re.escape(old) + r"\b")
    for f in tracked(root, "*.java", "*.md", "*.py", "*.sh", ".ci/*"):
        text = f.read_text(encoding="utf-8")
        changed = word.sub(new, text)
        if changed != text:
            f.write_text(changed, encoding="utf-8")


def singular(root, dry_run):
    for src in tracked(root, "*/src/test/java/*.java"):
        m = SINGULAR.search(src.read_text(encoding="utf-8"))
        if m and m.group(1) == src.stem:
            rename(root, src, src.stem, src.stem + "s", dry_run)


def apply(root, reports, dry_run):
    if not reports:
        reports = sorted(root.glob("*/target/surefire-reports/*TestKindsTests.txt"))
    if not reports:
        sys.exit("classify-tests: no TestKindsTests report; run TestKindsTests first (see --help)")
    names = set()
    for r in reports:
        names.update(m.group("fqcn").split("$")[0] for m in MARK.finditer(pathlib.Path(r).read_text(encoding="utf-8")))
    if not names:
        print("classify-tests: every *Tests class is a unit test; nothing to rename")
    for fqcn in sorted(names):
        old = fqcn.rsplit(".", 1)[1]
        if not old.endswith("Tests"):
            sys.exit(f"classify-tests: {fqcn} does not end in Tests")
        rename(root, source_of(root, fqcn), old, old[: -len("Tests")] + "IT", dry_run)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["singular", "apply"])
    parser.add_argument("--report", action="append", default=[], help="a TestKindsTests report (default: all)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    root = pathlib.Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True,
                                       text=True).stdout.strip())
    if args.step == "singular":
        singular(root, args.dry_run)
    else:
        apply(root, args.report, args.dry_run)


if __name__ == "__main__":
    main()
