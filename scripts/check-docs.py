#!/usr/bin/env python3
"""Fails when a citation of the repository's docs does not resolve, or a source cites what is not
in the repository.

The repository must stand alone: code and docs cite `docs/<file>.md#<anchor>`, never the
sections of an outside specification, its capture or trace files, or paths outside the checkout.

- Every `docs/<file>.md` or `docs/<file>.md#<anchor>` named in a source, script, manifest or
  Markdown file must exist, and its anchor must be a heading of that file (GitHub's anchor
  rules).
- Every relative Markdown link (`[text](path#anchor)`, `[text](#anchor)`) must resolve to a file
  inside the repository, and its anchor to a heading there.
- Outside `docs/`, no file may cite the outside specification: its section signs and bare
  section numbers, its file name, its capture and trace files, or the shared directory next to
  the checkout; inside `docs/`, nothing may point into that directory.
"""
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHECKED_SUFFIXES = {".rs", ".md", ".toml", ".sh", ".py"}
SKIPPED_DIRS = {".git", "target", ".venv", "run", "node_modules"}

# Citations of the outside specification: the section sign, bare section numbers in parentheses
# or after `//` (the forms the old comments used), the spec's file name, its capture and trace
# directories, the spec's nickname, and the shared directory. Each is spelled so that this file
# does not match it, and is checked like every other.
OUTSIDE_CITATIONS = re.compile(
    r"\u00a7|[c]aptures/|[t]races/|libpod-manifest-[a]pi|wire [s]pec|\((3|6)\.[0-9]\)"
    r"|// (6\.3|7\.1)|[.][.]/shared"
)
SHARED_DIRECTORY = re.compile(r"[.][.]/shared")
DOCS_CITATION = re.compile(r"(?<![\w./-])docs/([\w.-]+\.md)(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def checked_files():
    # Skipped directories are pruned, not walked: a build's target directory is large.
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = pathlib.Path(directory, name)
            if path.suffix in CHECKED_SUFFIXES:
                yield path


def github_anchor(heading_text):
    """The anchor GitHub gives a heading: its text without Markdown, lower-cased, with
    everything but word characters, spaces and hyphens removed, and spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading_text)  # links keep their text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


_anchors = {}


def anchors_of(markdown_path):
    """Every anchor of a Markdown file, with GitHub's `-1`, `-2` suffixes for repeated headings."""
    if markdown_path not in _anchors:
        found, seen, in_fence = set(), {}, False
        for line in markdown_path.read_text().splitlines():
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            m = None if in_fence else HEADING.match(line)
            if m:
                base = github_anchor(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
        _anchors[markdown_path] = found
    return _anchors[markdown_path]


def check_target(target, anchor):
    """What is wrong with a cited file and anchor, or None."""
    try:
        target.relative_to(ROOT)
    except ValueError:
        return "points outside the repository"
    if not target.exists():
        return "names a file that does not exist"
    if anchor and target.suffix == ".md" and anchor not in anchors_of(target):
        return f"names an anchor {target.name} has no heading for"
    return None


def problems_in(path):
    rel = path.relative_to(ROOT)
    in_docs = rel.parts[0] == "docs"
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        where = f"{rel}:{number}"
        if not in_docs:
            m = OUTSIDE_CITATIONS.search(line)
            if m:
                yield (
                    f"{where}: cites something outside the repository ({m.group(0)!r}); "
                    "cite docs/ or state the fact"
                )
        elif SHARED_DIRECTORY.search(line):
            yield f"{where}: points outside the repository, into the shared directory"
        for m in DOCS_CITATION.finditer(line):
            problem = check_target((ROOT / "docs" / m.group(1)).resolve(), m.group(2))
            if problem:
                yield f"{where}: {m.group(0)} {problem}"
        if path.suffix == ".md":
            for m in MARKDOWN_LINK.finditer(line):
                link = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
                    continue
                file_part, _, anchor = link.partition("#")
                target = (path.parent / file_part).resolve() if file_part else path
                problem = check_target(target, anchor)
                if problem:
                    yield f"{where}: link {link} {problem}"


def main():
    problems = [p for path in checked_files() for p in problems_in(path)]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
