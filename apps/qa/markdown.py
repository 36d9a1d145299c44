"""FAQ answers from Markdown to HTML that is safe to show: raw HTML escaped, links only to
http(s), mail, phone or this site, no images (they would load from anywhere on view)."""

import re

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# After markdown-it's own normalisation (entities decoded, percent-encoded): a scheme, if any,
# must be one of these. Anything else (javascript:, vbscript:, data:, file:) is left as text.
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_ALLOWED_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def _link_allowed(url: str) -> bool:
    scheme = _SCHEME.match(url.strip())
    if scheme is None:
        # Relative: a path on this site, a fragment or a query. "//host" is another site
        # without a scheme; allowed like https.
        return True
    return scheme.group(1).lower() in _ALLOWED_SCHEMES


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])  # GFM tables: answers list opening hours in them
    md.disable("image")
    md.validateLink = _link_allowed

    def link_open(renderer, tokens, idx, options, env):
        # Answers link out to other sites: they learn nothing about the page or the reader.
        tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MD = _renderer()


def markdown_html(text: str) -> SafeString:
    """The answer as HTML: every byte of it comes from markdown-it with raw HTML disabled,
    so user text is escaped and only Markdown's own elements appear."""
    return mark_safe(_MD.render(text or ""))  # noqa: S308 (escaped by markdown-it, html off)
