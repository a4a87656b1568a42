"""Every block of every template renders on its own, as htmx asks for it: the names it
takes from outside itself (the template's imports and macros) come with it."""

from pathlib import Path

import pytest
from jinja2 import DictLoader, Environment, nodes
from jinja2_fragments import render_block

from crm.core import templating
from crm.core.settings import ROOT

TEMPLATES = sorted(
    str(path.relative_to(ROOT / "templates")) for path in (ROOT / "templates").rglob("*.html")
)


def outside_names(source: str) -> dict[str, set[str]]:
    """Per block: the names it uses that its template defines outside every block."""
    tree = templating.environment.parse(source)
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, nodes.Macro):
            defined.add(node.name)
        elif isinstance(node, nodes.Import):
            defined.add(node.target)
        elif isinstance(node, nodes.FromImport):
            defined |= {n if isinstance(n, str) else n[1] for n in node.names}
    return {
        block.name: {n.name for n in block.find_all(nodes.Name) if n.ctx == "load"} & defined
        for block in tree.find_all(nodes.Block)
    }


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_fragment_gets_every_name_its_block_takes_from_outside(template):
    source = (ROOT / "templates" / template).read_text()
    needed = set().union(*outside_names(source).values())
    given = set(templating.fragment_names(template, {"_": str, "csrf_token": ""}))
    assert needed <= given


def test_a_block_alone_misses_its_templates_macros_without_them():
    env = Environment(
        autoescape=True,
        loader=DictLoader(
            {
                "base.html": "{% block content %}{% endblock %}",
                "page.html": '{% extends "base.html" %}{% macro label() %}won{% endmacro %}'
                "{% block content %}{% block part %}{{ label() }}{% endblock %}{% endblock %}",
            }
        ),
    )
    with pytest.raises(Exception, match="'label' is undefined"):
        render_block(env, "page.html", "part", {})


def test_the_memberships_block_finds_its_status_label():
    assert "status_label" in templating.fragment_names("journeys/memberships.html", {})
    assert Path(ROOT / "templates" / "journeys" / "memberships.html").exists()
