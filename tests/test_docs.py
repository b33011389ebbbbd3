"""The method documentation is in the repository, and what the code cites of it exists.

Every `docs/<file>.md#<section>` named in the source, the tests or the docs resolves to a
heading of that file (GitHub's anchor rule), every linked document exists, and no docstring
cites the out-of-repository notes the code was once written from.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CITED = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")
LOCAL = re.compile(r"\]\((?!https?:)([\w-]+\.md)?(?:#([\w-]+))?\)")
OUTSIDE = re.compile(r"ilrec\.md §|MARCO reference|shared/reference")


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    return {anchor(line.lstrip("#")) for line in lines if line.startswith("#")}


def sources() -> list[Path]:
    return sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "tests").rglob("*.py"))


def test_the_anchor_rule():
    assert anchor(" Agents, observations and state") == "agents-observations-and-state"
    assert anchor("The LLM environment of BiLLP") == "the-llm-environment-of-billp"


def test_every_cited_section_exists():
    missing = []
    for path in sources():
        for doc, section in CITED.findall(path.read_text(encoding="utf-8")):
            target = DOCS / doc
            if not target.is_file() or (section and section not in anchors(target)):
                missing.append(f"{path.relative_to(REPO)}: docs/{doc}#{section}")
    assert not missing, missing


def test_the_docs_link_to_sections_that_exist():
    missing = []
    for doc in sorted(DOCS.glob("*.md")):
        for target, section in LOCAL.findall(doc.read_text(encoding="utf-8")):
            path = DOCS / (target or doc.name)
            if not path.is_file() or (section and section not in anchors(path)):
                missing.append(f"{doc.name}: {target}#{section}")
    assert not missing, missing


def test_no_docstring_cites_notes_outside_the_repository():
    found = [
        f"{path.relative_to(REPO)}:{n}"
        for path in sources()
        if path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, found
