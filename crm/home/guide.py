"""The user guide: Markdown files in docs/, one per language, shown as pages."""

from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup

from crm.core.errors import N_, NotFound

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
IMAGES_DIR = DOCS_DIR / "images"
GUIDES = {"en": "guide.md", "de": "guide.de.md"}


@cache
def guide_html(language: str) -> Markup:
    """The guide in ``language`` as HTML; raw HTML in the Markdown is not passed on."""
    if language not in GUIDES:
        raise NotFound(N_("There is no user guide in this language."))
    text = (DOCS_DIR / GUIDES[language]).read_text(encoding="utf-8")
    # Images are written relative to docs/ (images/x.png): the app serves them there.
    return Markup(MarkdownIt("commonmark", {"html": False}).render(text))  # noqa: S704
