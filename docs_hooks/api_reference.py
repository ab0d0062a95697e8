"""MkDocs hook: one API reference page per public module, written from its ``__all__``.

The public modules are the package itself, its top-level modules whose name
does not start with an underscore, and the ``embedded`` package (whose
submodules are the server's internals). Pages are generated at each build, so
the reference follows the code when modules move; optional pages written by
others (``compatibility.md``, ``architecture.md``) join the nav when they exist.
"""

import importlib
import pkgutil
import re
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

__all__ = [
    "PACKAGE",
    "on_config",
    "on_files",
    "on_page_content",
    "public_modules",
    "reference_page",
]

PACKAGE = "odmantic_fastapi"
# Pages others own: listed in the nav only once they exist, in this order.
_OPTIONAL_PAGES = (("Compatibility", "compatibility.md"), ("Architecture", "architecture.md"))
_REFERENCE_DIR = "reference"
# Sphinx roles in docstrings (":func:`name`"): the role goes, the code span stays.
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|exc|data|obj):(?=`)")
_HTML_ROLE = re.compile(r":(?:func|class|meth|mod|attr|exc|data|obj):(?=<code>)")


def public_modules() -> list[str]:
    """The dotted names of the modules whose ``__all__`` the reference documents."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            names.append(f"{PACKAGE}.{info.name}")
    return sorted(names)


def _page_path(module: str) -> str:
    if module == PACKAGE:
        return f"{_REFERENCE_DIR}/index.md"
    return f"{_REFERENCE_DIR}/{module}.md"


def _exports(module: ModuleType) -> list[str]:
    exported: list[str] = list(getattr(module, "__all__", []))
    return exported


def _summary(obj: object) -> str:
    """The first line of the object's own docstring, or what an ``Annotated`` alias stands for."""
    if typing.get_origin(obj) is typing.Annotated:
        base, *metadata = typing.get_args(obj)
        dependency = getattr(metadata[0], "dependency", None) if metadata else None
        if dependency is not None:
            return f"`Annotated[{base.__name__}, Depends({dependency.__name__})]`"
        return ""
    if not str(getattr(obj, "__module__", "")).startswith(PACKAGE):
        return ""
    doc = getattr(obj, "__doc__", None)
    return _ROLE.sub("", doc.strip().splitlines()[0]) if doc else ""


def _home_module(name: str, obj: object, modules: dict[str, ModuleType]) -> str | None:
    """The public module whose page documents ``name`` (the one defining it first)."""
    holders = [
        path
        for path, module in modules.items()
        if path != PACKAGE and name in _exports(module) and getattr(module, name, None) is obj
    ]
    defining = getattr(obj, "__module__", None)
    if defining in holders:
        return str(defining)
    return holders[0] if holders else None


def _package_page(modules: dict[str, ModuleType]) -> str:
    package = modules[PACKAGE]
    lines = [
        f"# `{PACKAGE}`",
        "",
        "Every name you import from the package. Each links to the page of the module",
        "that documents it; the modules are listed in the navigation.",
        "",
    ]
    in_place: list[str] = []
    for name in _exports(package):
        obj = getattr(package, name)
        home = _home_module(name, obj, modules)
        if home is None:
            in_place.append(name)
            continue
        summary = _summary(obj)
        lines.append(f"- [`{name}`][{home}.{name}]" + (f": {summary}" if summary else ""))
    for name in in_place:
        lines += ["", f"::: {PACKAGE}.{name}"]
    return "\n".join(lines) + "\n"


def _outside_target(api: griffe.Module, module_name: str, name: str) -> str | None:
    """Where a name re-exported from another package comes from (mkdocstrings skips those)."""
    member = api[module_name.removeprefix(PACKAGE).lstrip(".")] if module_name != PACKAGE else api
    obj = member[name]
    if obj.is_alias and not obj.target_path.startswith(PACKAGE + "."):
        return str(obj.target_path)
    return None


def reference_page(module_name: str, modules: dict[str, ModuleType], api: griffe.Module) -> str:
    """The Markdown of one reference page."""
    if module_name == PACKAGE:
        return _package_page(modules)
    members: list[str] = []
    outside: dict[str, str] = {}
    for name in _exports(modules[module_name]):
        target = _outside_target(api, module_name, name)
        if target is None:
            members.append(name)
        else:
            outside[name] = target
    page = (
        f"# `{module_name}`\n\n"
        f"::: {module_name}\n"
        "    options:\n"
        "      show_root_heading: false\n"
        "      show_root_toc_entry: false\n"
        f"      members: [{', '.join(members)}]\n"
    )
    if outside:
        page += "\n## Re-exported from other packages\n"
        for name, target in outside.items():
            page += (
                f"\n### `{name}` {{ #{module_name}.{name} }}\n\nThe same object as `{target}`.\n"
            )
    return page


def _load() -> dict[str, ModuleType]:
    return {name: importlib.import_module(name) for name in public_modules()}


def on_config(config: MkDocsConfig, **_: Any) -> MkDocsConfig:
    nav: list[Any] = config.nav or []
    docs_dir = Path(config.docs_dir)
    for title, page in _OPTIONAL_PAGES:
        if (docs_dir / page).exists():
            nav.append({title: page})
    nav.append({"API reference": [_page_path(name) for name in public_modules()]})
    config.nav = nav
    return config


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    modules = _load()
    api = griffe.load(PACKAGE)
    assert isinstance(api, griffe.Module)
    for name in modules:
        page = reference_page(name, modules, api)
        files.append(File.generated(config, _page_path(name), content=page))
    return files


def on_page_content(html: str, page: Page, **_: Any) -> str:
    if page.file.src_uri.startswith(_REFERENCE_DIR + "/"):
        return _HTML_ROLE.sub("", html)
    return html
