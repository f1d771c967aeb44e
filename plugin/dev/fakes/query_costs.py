"""The app's Admin GraphQL documents priced by Shopify's requested-cost rule; prints docs/admin-queries.md's table."""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from graphql import FieldNode, OperationDefinitionNode, VariableNode, parse, visit
from graphql.language import Visitor

from .shopify import MAX_PAGE_SIZE, MAX_QUERY_COST, requested_cost

ROOT = Path(__file__).resolve().parents[3]
DOC_PATH = ROOT / "docs" / "admin-queries.md"
PACKAGES = ("plugin", "jobs")
# A module that pages with $first names its page size PAGE_SIZE; any other is priced at Shopify's
# largest page, the most it could ever send.
PAGE_SIZE_NAME = "PAGE_SIZE"
TABLE_START = "<!-- table: python -m plugin.dev.fakes.query_costs --write -->"
TABLE_END = "<!-- end of table -->"
HEADER = ("Operation", "Document", "What it is for", "Priced with", "Requested cost")
_DOCUMENT = re.compile(r"^\s*(query|mutation)\b\s*\w*\s*[({]")


@dataclass(frozen=True)
class AppDocument:
    """One GraphQL document constant of the app, where it lives and what it is priced at."""

    module: str
    constant: str
    operation: str | None
    text: str
    variables: dict  # the largest first/last values the app can send, by variable name
    cost: int
    size_source: str = ""  # where those values come from: the module's PAGE_SIZE or Shopify's maximum

    @property
    def key(self) -> str:
        """module.CONSTANT, the document's place in the code and its row in the docs."""
        return f"{self.module}.{self.constant}"

    @property
    def priced_with(self) -> str:
        """How the page-size variables were set, for the docs."""
        if not self.variables:
            return "as written"
        sizes = ", ".join(f"${name} = {value}" for name, value in sorted(self.variables.items()))
        return f"{sizes} ({self.size_source})"


def app_modules() -> list[ModuleType]:
    """Every module of the app's packages, imported (pkgutil, so a new module is found without a list)."""
    modules = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            modules.append(importlib.import_module(info.name))
    return modules


def _assigned_names(module: ModuleType) -> list[str]:
    """Names a module assigns at its top level (so a document imported elsewhere is listed once, where it is defined)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return []
    names: list[str] = []
    for statement in tree.body:
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else ([statement.target] if isinstance(statement, ast.AnnAssign) else [])
        )
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def size_variables(text: str) -> set[str]:
    """Names of the variables a document passes as a connection's first or last."""
    found: set[str] = set()

    class _Sizes(Visitor):
        """Collects $variables given to first/last."""

        def enter_field(self, node: FieldNode, *_):
            """Look at one field's arguments."""
            for arg in node.arguments or ():
                if arg.name.value in ("first", "last") and isinstance(arg.value, VariableNode):
                    found.add(arg.value.name.value)

    visit(parse(text), _Sizes())
    return found


def page_size(module: ModuleType) -> tuple[int, str]:
    """The largest page the module asks for and where that comes from: its PAGE_SIZE, else Shopify's maximum (250)."""
    value = getattr(module, PAGE_SIZE_NAME, None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value, PAGE_SIZE_NAME
    return MAX_PAGE_SIZE, "no PAGE_SIZE: Shopify's maximum page"


def _operation_name(text: str) -> str | None:
    """The document's (first) operation name, or None for an anonymous one."""
    for definition in parse(text).definitions:
        if isinstance(definition, OperationDefinitionNode):
            return definition.name.value if definition.name else None
    return None


def app_documents() -> list[AppDocument]:
    """Every module-level GraphQL document constant in plugin/ and jobs/, priced at its worst case."""
    documents = []
    for module in app_modules():
        for name in dict.fromkeys(_assigned_names(module)):
            text = getattr(module, name, None)
            if not isinstance(text, str) or not _DOCUMENT.match(text):
                continue
            size, source = page_size(module)
            variables = {var: size for var in size_variables(text)}
            documents.append(
                AppDocument(
                    module.__name__, name, _operation_name(text), text, variables, requested_cost(text, variables), source
                )
            )
    return sorted(documents, key=lambda d: d.key)


def _cells(line: str) -> list[str]:
    """The cells of one markdown table row, without backticks."""
    return [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]


def documented_rows(text: str) -> dict[str, dict[str, str]]:
    """The cost table of docs/admin-queries.md, by Document (module.CONSTANT)."""
    rows: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = _cells(line)
        if len(cells) != len(HEADER) or cells[0] == HEADER[0] or set(cells[0]) <= set("-: "):
            continue
        rows[cells[1]] = dict(zip(HEADER, cells))
    return rows


def render_table(documents: list[AppDocument], purposes: dict[str, str] | None = None) -> str:
    """The markdown table; each purpose is kept from `purposes` (module.CONSTANT -> text) or left to fill in."""
    purposes = purposes or {}
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---|---|---:|"]
    for doc in documents:
        purpose = purposes.get(doc.key) or "(describe)"
        lines.append(f"| `{doc.operation or '(anonymous)'}` | `{doc.key}` | {purpose} | {doc.priced_with} | {doc.cost} |")
    return "\n".join(lines)


def write_table(path: Path, table: str) -> None:
    """Replace the table between the markers in the docs file."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    path.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Print the cost table (keeping the docs' purposes); --write puts it into docs/admin-queries.md."""
    parser = argparse.ArgumentParser(prog="python -m plugin.dev.fakes.query_costs", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"rewrite the table in {DOC_PATH.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    documents = app_documents()
    existing = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    purposes = {key: row["What it is for"] for key, row in documented_rows(existing).items()}
    table = render_table(documents, purposes)
    if args.write:
        write_table(DOC_PATH, table)
    else:
        print(table)
    over = [d for d in documents if d.cost > MAX_QUERY_COST]
    for doc in over:
        print(f"{doc.key}: requested cost {doc.cost} exceeds Shopify's limit of {MAX_QUERY_COST}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
