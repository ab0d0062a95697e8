"""The documentation site: built strictly, offline, every block a tested module, every name documented.

The site is built once per test session with ``mkdocs build --strict`` into a
temporary directory (the ``docs`` extra, which the ``test`` extra includes).
"""

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from docs_hooks.api_reference import PACKAGE

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOCS_SRC = ROOT / "docs_src"
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", flags=re.M | re.S)


class _Collector(HTMLParser):
    """Ids, links and asset URLs of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: set[str] = set()
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "href" in values:
            self.links.add(values["href"])
        if tag in ("script", "img", "iframe", "source", "audio", "video") and "src" in values:
            self.assets.append(values["src"])
        if tag == "link" and "href" in values:
            self.assets.append(values["href"])


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    yield out


def _pages(site: Path) -> dict[Path, _Collector]:
    pages = {}
    for page in site.rglob("*.html"):
        collector = _Collector()
        collector.feed(page.read_text())
        pages[page] = collector
    return pages


def _is_external(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def test_built_html_loads_no_external_assets(site: Path) -> None:
    external = {
        f"{page.relative_to(site)}: {url}"
        for page, found in _pages(site).items()
        for url in found.assets
        if _is_external(url)
    }
    assert not external
    for css in site.rglob("*.css"):
        text = css.read_text()
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), css
        assert "@import" not in text or not re.search(r"@import\s+['\"]?(url\()?https?:", text), css


def _public_names() -> dict[str, list[str]]:
    """Every public module of the package (no leading underscore) and its ``__all__``."""
    import pkgutil

    package = importlib.import_module(PACKAGE)
    names = {PACKAGE: list(package.__all__)}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{PACKAGE}.{info.name}")
            names[module.__name__] = list(getattr(module, "__all__", []))
    return names


def test_every_public_name_is_in_the_api_reference(site: Path) -> None:
    pages = _pages(site)
    ids = set().union(*(found.ids for found in pages.values()))
    public = _public_names()
    assert "AIOEngine" in public[PACKAGE] and f"{PACKAGE}.embedded" in public
    missing = [
        f"{module}.{name}"
        for module, names in public.items()
        if module != PACKAGE
        for name in names
        if f"{module}.{name}" not in ids
    ]
    assert not missing
    # The package's own names: documented in place, or linked to where they are.
    index = pages[site / "reference" / "index.html"]
    targets = {link.rsplit("#", 1)[1] for link in index.links if "#" in link}
    undocumented = [
        name
        for name in public[PACKAGE]
        if f"{PACKAGE}.{name}" not in ids
        and not any(t.endswith(f".{name}") and t in ids for t in targets)
    ]
    assert not undocumented


def _code_blocks() -> Iterator[tuple[Path, str, str]]:
    for page in sorted(DOCS.rglob("*.md")):
        for match in FENCE.finditer(page.read_text()):
            yield page, match.group("lang"), match.group("body")


def test_every_python_block_is_included_from_docs_src() -> None:
    inline = []
    for page, lang, body in _code_blocks():
        if lang not in ("python", "py", "pycon"):
            continue
        lines = body.strip().splitlines()
        included = [SNIPPET.match(line) for line in lines]
        if not lines or not all(m and m.group("path").startswith("docs_src/") for m in included):
            inline.append(f"{page.relative_to(ROOT)}: {lines[:1]}")
    assert not inline


def test_every_included_snippet_exists_with_its_section() -> None:
    for _, _, body in _code_blocks():
        for line in body.strip().splitlines():
            match = SNIPPET.match(line)
            if not match:
                continue
            source = ROOT / match.group("path")
            assert source.is_file(), line
            if match.group("section"):
                text = source.read_text()
                assert f"# --8<-- [start:{match.group('section')}]" in text, line


def test_every_docs_src_module_is_shown_and_run() -> None:
    shown = {
        match.group("path")
        for _, _, body in _code_blocks()
        for line in body.strip().splitlines()
        if (match := SNIPPET.match(line))
    }
    tests = "\n".join(p.read_text() for p in (ROOT / "tests" / "docs").glob("test_*.py"))
    for module in sorted(DOCS_SRC.rglob("*.py")):
        if module.name == "__init__.py":
            continue
        relative = module.relative_to(ROOT).as_posix()
        dotted = relative.removesuffix(".py").replace("/", ".")
        parent, name = dotted.rsplit(".", 1)
        assert relative in shown, f"{relative} is on no page"
        assert dotted in tests or re.search(
            rf"from {re.escape(parent)} import \(?[^)]*\b{name}\b", tests
        ), f"{relative} is run by no test in tests/docs"
