#!/usr/bin/env python3
"""Fails when a crate of the workspace declares a dependency its code never names."""
# A dependency counts as named when some source file of its section says `name::`, `name;`,
# `name as` or `name!` (with `-` spelled `_`), which every `use`, path, `extern crate` and macro
# call does. A workspace dependency counts as used when some member declares it.
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Where the code of each dependency section lives, relative to the crate.
SECTION_SOURCES = {
    "dependencies": ["src", "benches", "tests", "build.rs"],
    "dev-dependencies": ["src", "tests", "benches"],
    "build-dependencies": ["build.rs"],
}


def sources(crate_dir, section):
    for d in SECTION_SOURCES[section]:
        p = crate_dir / d
        files = [p] if p.is_file() else sorted(p.rglob("*.rs")) if p.is_dir() else []
        for f in files:
            yield f.read_text()


def is_named(name, crate_dir, section):
    # A renamed dependency (`foo = { package = "bar" }`) is still named `foo` in code.
    ident = name.replace("-", "_")
    pattern = re.compile(r"\b" + re.escape(ident) + r"\b\s*(::|;|\s+as\b|!)")
    return any(pattern.search(text) for text in sources(crate_dir, section))


def main():
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    unused, declared_by_members = [], set()
    for member in workspace["workspace"]["members"]:
        crate_dir = ROOT / member
        manifest = tomllib.loads((crate_dir / "Cargo.toml").read_text())
        for section in SECTION_SOURCES:
            for name in manifest.get(section, {}):
                declared_by_members.add(name)
                if not is_named(name, crate_dir, section):
                    unused.append(f"{member}/Cargo.toml [{section}] {name}")
    for name in workspace["workspace"].get("dependencies", {}):
        if name not in declared_by_members:
            unused.append(f"Cargo.toml [workspace.dependencies] {name}")
    for line in unused:
        print(f"unused dependency: {line}")
    return 1 if unused else 0


if __name__ == "__main__":
    sys.exit(main())
