"""The plain-text alternative of an HTML email: readable text, with link targets kept."""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
    "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
})  # fmt: skip
HIDDEN = frozenset({"head", "script", "style", "template", "title"})
SPACES = re.compile(r"[ \t\r\f\v]+")
BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    """Collects text; blocks become line breaks, list items get a dash, links their URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.links: list[tuple[str | None, int]] = []  # href, and where the link's text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in BLOCKS:
            self.parts.append("\n\n" if tag in {"p", "h1", "h2", "h3", "table"} else "\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href"), len(self.parts)))
        elif tag == "img" and not self.hidden:
            self.parts.append(dict(attrs).get("alt") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCKS and tag != "li":
            self.parts.append("\n")
        elif tag in {"td", "th"}:
            self.parts.append(" ")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = "".join(self.parts[start:]).strip()
            if href and _shown(href) and _shown(href) != text:
                self.parts.append(f" ({_shown(href)})" if text else _shown(href))

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(SPACES.sub(" ", data.replace("\n", " ")))


def _shown(href: str) -> str:
    """A link target as a reader needs it: `mailto:` dropped, page anchors not shown at all."""
    href = href.strip()
    if href.startswith("#") or href.lower().startswith("javascript:"):
        return ""
    return href[len("mailto:") :] if href.lower().startswith("mailto:") else href


def html_to_text(html: str) -> str:
    """The text a reader of `html` sees, one paragraph a block, `text (url)` for each link."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n")]
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"
