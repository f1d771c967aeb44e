"""The README stays short and runnable as written; every relative link in it and in docs/ resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CI_SCRIPT = ROOT / ".ci" / "run"
# A README a store owner or a new developer reads in ten minutes; the rest lives in docs/.
README_MAX_BYTES = 12_500
RUN_COMMAND = "python3 manage.py run"
TEST_COMMAND = "python3 manage.py test"

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) or ![alt](target), with an optional "title"; link text may hold one level of brackets.
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files() -> list[Path]:
    """README.md and every Markdown file directly under docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked (links there are not links)."""
    lines, fenced = [], None
    for line in text.splitlines():
        fence = _FENCE.match(line)
        if fence:
            if fenced is None:
                fenced = fence.group(1)
            elif fence.group(1) == fenced:
                fenced = None
            continue
        if fenced is None:
            lines.append(line)
    return lines


def relative_links(text: str) -> list[str]:
    """Every link target in the Markdown that is not an absolute URL (http:, mailto:, …)."""
    targets = []
    for line in prose_lines(text):
        definition = _REFERENCE_DEFINITION.match(line)
        if definition:
            targets.append(definition.group(1))
            continue
        line = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)
        targets.extend(match.group(1) for match in _INLINE_LINK.finditer(line))
    return [target for target in targets if not _SCHEME.match(target)]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: rendered text, lower case, punctuation dropped, spaces to hyphens."""
    text = _INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("**", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The fragments that lead somewhere in a Markdown file: heading slugs (with GitHub's -1, -2 for repeats) and HTML anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    text = path.read_text(encoding="utf-8")
    for line in prose_lines(text):
        heading = _ATX_HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
        found.update(_HTML_ANCHOR.findall(line))
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken_links(path: Path) -> list[str]:
    """The relative links of one Markdown file that lead to no file, or to no heading of it."""
    problems = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        location, _, fragment = target.partition("#")
        destination = (path.parent / location).resolve() if location else path.resolve()
        if not destination.exists():
            problems.append(f"{target}: no file {_shown(destination)}")
            continue
        if fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            problems.append(f"{target}: no heading #{fragment} in {_shown(destination)}")
    return problems


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail into docs/ (limit {README_MAX_BYTES})"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    assert broken_links(path) == []


def test_readme_links_every_doc():
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in relative_links(README.read_text(encoding="utf-8"))
        if target.partition("#")[0]
    }
    unlinked = [str(doc.relative_to(ROOT)) for doc in sorted(DOCS.glob("*.md")) if doc.resolve() not in linked]
    assert unlinked == []


def ci_test_commands() -> list[str]:
    """The test command as .ci/run runs it: from `python3 manage.py test` to the end of each line that runs it."""
    commands = []
    for line in CI_SCRIPT.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith(("#", "echo")) or TEST_COMMAND not in stripped:
            continue
        command = stripped[stripped.index(TEST_COMMAND) :]
        commands.append(re.sub(r"\s+#.*$", "", command).strip())
    return commands


def readme_command_lines() -> list[str]:
    """The lines of the README's code blocks, comments removed."""
    lines, fenced = [], None
    for line in README.read_text(encoding="utf-8").splitlines():
        fence = _FENCE.match(line)
        if fence:
            fenced = fence.group(1) if fenced is None else (None if fence.group(1) == fenced else fenced)
            continue
        if fenced is not None:
            lines.append(re.sub(r"\s+#.*$", "", line).strip())
    return lines


def test_readme_gives_the_two_commands_as_ci_runs_them():
    ci_commands = ci_test_commands()
    assert ci_commands, f".ci/run no longer runs {TEST_COMMAND!r}"
    commands = readme_command_lines()
    assert RUN_COMMAND in commands
    for command in ci_commands:
        assert command in commands, f"README does not give the test command as .ci/run runs it: {command!r}"


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("How it behaves (for operators)", "how-it-behaves-for-operators"),
        ("What happened to an order: `flask --app plugin activity`", "what-happened-to-an-order-flask---app-plugin-activity"),
        ("`shopify.app.toml` or registration by the app", "shopifyapptoml-or-registration-by-the-app"),
        (
            "The enqueue replays RQ's writes in one atomic Redis script",
            "the-enqueue-replays-rqs-writes-in-one-atomic-redis-script",
        ),
        ("`GET /healthz`", "get-healthz"),
        ("print_mirror **metrics**", "print_mirror-metrics"),
    ],
)
def test_slugs_follow_github(heading, slug):
    assert github_slug(heading) == slug


def test_link_checker_sees_what_it_must(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Part one\n\n[ok](#part-one) [gone](#part-two) [file](missing.md) [web](https://example.com)\n"
        "`[code](nowhere.md)`\n\n```\n[fenced](nowhere.md)\n```\n\n## Part one\n\n[again](#part-one-1)\n",
        encoding="utf-8",
    )
    assert relative_links(page.read_text()) == ["#part-one", "#part-two", "missing.md", "#part-one-1"]
    assert anchors(page) == {"title", "part-one", "part-one-1"}
    assert [problem.split(":")[0] for problem in broken_links(page)] == ["#part-two", "missing.md"]


def test_every_setting_is_documented_with_its_default():
    """The README's table and operations.md's list every setting of plugin/config.py, with the code's default."""
    from plugin.config import _SETTINGS

    text = README.read_text(encoding="utf-8") + (DOCS / "operations.md").read_text(encoding="utf-8")
    documented = {}
    for line in text.splitlines():
        match = re.match(r"\| (`[A-Z_]+`(?: / `[A-Z_]+`)?) \| ([^|]*) \|", line)
        if match:
            names = re.findall(r"`([A-Z_]+)`", match.group(1))
            defaults = [part.strip(" `") for part in match.group(2).split(" / ")]
            documented.update({name: defaults[min(i, len(defaults) - 1)] for i, name in enumerate(names)})
    missing = [env for _key, env, _default, _parse in _SETTINGS if env not in documented]
    assert missing == []
    for _key, env, default, _parse in _SETTINGS:
        if default not in ("", None):
            assert documented[env] == (f"{default:g}" if isinstance(default, float) else str(default)), env
