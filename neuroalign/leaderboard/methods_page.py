"""``methods.html``: docs/methods.md shipped with the static site (the pages link to it).

Why a converter here: the venv has no Markdown library, and the page must open from disk.
This handles the subset docs/methods.md uses (headings, paragraphs, lists, pipe tables,
fenced code, inline code, bold, italics, links) and escapes everything else: safe by
construction, since no raw HTML from the file reaches the page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

METHODS_MD = Path(__file__).resolve().parents[2] / "docs" / "methods.md"
_INLINE = (
    (re.compile(r"`([^`]+)`"), lambda m: f"<code>{m.group(1)}</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), lambda m: f"<strong>{m.group(1)}</strong>"),
    (re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])"), lambda m: f"<em>{m.group(1)}</em>"),
    (re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+|#[\w-]+|[\w./-]+)\)"),
     lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>'),
)


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]+`)", html.escape(text, quote=False))
    out = []
    for part in parts:  # code spans are kept verbatim; the rest gets bold, italics, links
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{part[1:-1]}</code>")
            continue
        for pattern, repl in _INLINE[1:]:
            part = pattern.sub(repl, part)
        out.append(part)
    return "".join(out)


def _table(lines: list[str]) -> str:
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    head, body = rows[0], [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
    th = "".join(f"<th class=text>{_inline(c)}</th>" for c in head)
    trs = "".join("<tr>" + "".join(f"<td class=text>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def markdown_to_html(text: str) -> str:
    """The HTML body of a Markdown document (the subset above)."""
    out, para, lines, i = [], [], text.splitlines(), 0

    def flush():
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            flush()
            j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("```")), len(lines))
            out.append(f"<pre><code>{html.escape(chr(10).join(lines[i + 1:j]))}</code></pre>")
            i = j + 1
            continue
        if m := re.match(r"(#{1,6})\s+(.*)", ln):
            flush()
            n, title = len(m.group(1)), m.group(2)
            anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            out.append(f'<h{n} id="{anchor}">{_inline(title)}</h{n}>')
        elif ln.lstrip().startswith("|"):
            flush()
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
            continue
        elif re.match(r"\s*([-*]|\d+\.)\s+", ln):
            flush()
            tag = "ol" if re.match(r"\s*\d+\.", ln) else "ul"
            items = []
            while i < len(lines) and lines[i].strip():
                if re.match(r"\s*([-*]|\d+\.)\s+", lines[i]):
                    items.append(re.sub(r"^\s*([-*]|\d+\.)\s+", "", lines[i]))
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(x)}</li>" for x in items) + f"</{tag}>")
            continue
        elif not ln.strip():
            flush()
        else:
            para.append(ln.strip())
        i += 1
    flush()
    return "\n".join(out)


def methods_html(source: Path = METHODS_MD) -> str | None:
    """The methods page's body, or None when the docs are not installed beside the package."""
    return markdown_to_html(source.read_text(encoding="utf-8")) if source.is_file() else None
