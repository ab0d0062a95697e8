"""MkDocs hook: the benchmark charts of bench/results/ served with the benchmarks page.

docs/benchmarks.md links its charts as ``../bench/results/*.png`` so they show
on the repository's web view; the site copies them under ``assets/bench/``
and the page's links are rewritten to match.
"""

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

__all__ = ["on_files", "on_page_markdown"]

_RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
_SOURCE_LINK = "../bench/results/"
_SITE_DIR = "assets/bench/"


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    for chart in sorted(_RESULTS.glob("*.png")):
        files.append(File.generated(config, _SITE_DIR + chart.name, abs_src_path=str(chart)))
    return files


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    if page.file.src_uri == "benchmarks.md":
        return markdown.replace(_SOURCE_LINK, _SITE_DIR)
    return markdown
