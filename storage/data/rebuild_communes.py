"""Rebuild storage/data/communes.tsv.gz, the official list of French communes.

    python storage/data/rebuild_communes.py [--version X]

The source is Etalab's npm package @etalab/decoupage-administratif (MIT licence, Etalab; its
README puts the data itself under Etalab's Licence Ouverte, which asks that the source be
named: the file's header does), whose data/communes.json is built from INSEE's Code
officiel géographique, INSEE's populations légales and La Poste's postal codes. Kept: current
communes ("commune-actuelle") and the municipal arrondissements of Paris, Lyon and Marseille
("arrondissement-municipal"); left out: former communes merged into another (déléguées,
associées), which share their INSEE code with the commune they joined.

The output is deterministic (rows sorted by INSEE code, gzip with mtime 0), so rebuilding
from the same version gives the same bytes and a new version shows as a real diff.
Standard library only: it runs before the project is installed.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import sys
import tarfile
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PACKAGE = "@etalab/decoupage-administratif"
DEFAULT_VERSION = "6.0.0"  # pinned: the shipped file says which version it came from
REGISTRY = "https://registry.npmjs.org"
MEMBER = "package/data/communes.json"
LICENCE = "package/LICENSE"
KEPT_TYPES = ("commune-actuelle", "arrondissement-municipal")
OUTPUT = Path(__file__).resolve().parent / "communes.tsv.gz"
COLUMNS = ("insee", "name", "department", "postal_codes", "population")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def fetch_tarball(version: str) -> tuple[str, bytes]:
    """The package's tarball for `version` ("latest" allowed), checked against the
    registry's integrity hash; returns the exact version and the bytes."""
    name = urllib.parse.quote(PACKAGE, safe="@")
    meta = json.loads(_get(f"{REGISTRY}/{name}/{urllib.parse.quote(version)}"))
    tarball = _get(meta["dist"]["tarball"])
    integrity = meta["dist"].get("integrity", "")
    if integrity.startswith("sha512-"):
        expected = base64.b64decode(integrity.removeprefix("sha512-"))
        if hashlib.sha512(tarball).digest() != expected:
            raise SystemExit(f"{PACKAGE} {meta['version']}: the tarball fails its integrity check")
    return str(meta["version"]), tarball


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    try:
        member = archive.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise SystemExit(f"{name} is not a file in the tarball")
    return member.read()


def read_package(tarball: bytes) -> tuple[list[dict[str, Any]], str]:
    """communes.json's entries, and the licence's copyright line (MIT asks to keep it)."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        communes = list(json.loads(_member(archive, MEMBER)))
        licence = _member(archive, LICENCE).decode("utf-8")
    copyright_line = next((line.strip() for line in licence.splitlines()
                           if line.strip().lower().startswith("copyright")), "")
    return communes, copyright_line


def rows(communes: Iterable[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    kept = []
    for commune in communes:
        if commune.get("type") not in KEPT_TYPES:
            continue
        # A few overseas collectivities have no postal code or population in the source.
        postal_codes = sorted(set(commune.get("codesPostaux") or ()))
        kept.append((commune["code"], commune["nom"], commune["departement"],
                     " ".join(postal_codes), str(int(commune.get("population") or 0))))
    kept.sort()
    codes = [row[0] for row in kept]
    if len(set(codes)) != len(codes):
        raise SystemExit("the source lists an INSEE code twice among the kept types")
    for row in kept:
        if any("\t" in value or "\n" in value for value in row):
            raise SystemExit(f"a tab or newline in the row of {row[0]}")
    return kept


def render(version: str, copyright_line: str,
           table: list[tuple[str, str, str, str, str]]) -> bytes:
    header = (
        f"# French communes and the municipal arrondissements of Paris, Lyon and Marseille.\n"
        f"# Source: npm package {PACKAGE} {version}, data/communes.json (INSEE's Code "
        f"officiel géographique and populations légales, La Poste's postal codes).\n"
        f"# Licence: the package is MIT ({copyright_line or 'Etalab'}); its README puts the "
        f"data under Etalab's Licence Ouverte, which asks that the source be named (above).\n"
        f"# Rebuilt by storage/data/rebuild_communes.py; {len(table)} rows.\n"
        + "\t".join(COLUMNS) + "\n")
    body = "".join("\t".join(row) + "\n" for row in table)
    out = io.BytesIO()
    # No name and mtime 0 in the gzip header: the same input gives the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write((header + body).encode("utf-8"))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=DEFAULT_VERSION,
                        help=f"package version, or 'latest' (default {DEFAULT_VERSION})")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write")
    args = parser.parse_args(argv)
    version, tarball = fetch_tarball(args.version)
    communes, copyright_line = read_package(tarball)
    table = rows(communes)
    data = render(version, copyright_line, table)
    args.output.write_bytes(data)
    counts = ", ".join(f"{sum(1 for c in communes if c.get('type') == kind)} {kind}"
                       for kind in KEPT_TYPES)
    print(f"{PACKAGE} {version}: {counts}; {len(data):,} bytes written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
