"""The template registry: gb2021/gb2019 definitions loaded from rules/templates/*.yaml.

Adding the next national format is a new YAML file, not new code.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .nfkc import nfkc

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

_STRIP = re.compile(r"[\s\u3000\u00a0\u2002\u200b\ufeff\"'“”‘’「」『』()（）\[\]【】:：,，、.．。;；!！?？《》<>〈〉·・\-－—_/／|｜*]+")


def norm_label(text: str) -> str:
    """Comparison form of a label: NFKC, then every space, quote and punctuation removed (template.md §7)."""
    return _STRIP.sub("", nfkc(text or ""))


@dataclass(frozen=True)
class Col:
    id: str
    label: str
    aliases: tuple[str, ...] = ()
    signed: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(norm_label(x) for x in (self.label, *self.aliases)))


@dataclass(frozen=True)
class Row:
    id: str
    label: str
    aliases: tuple[str, ...] = ()
    group: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(norm_label(x) for x in (self.label, *self.aliases)))


@dataclass(frozen=True)
class Block:
    id: str
    caption: str
    cols: tuple[Col, ...]
    rows: tuple[Row, ...]
    dtype: str = "int"
    unit: str | None = None


@dataclass(frozen=True)
class Template:
    id: str
    title: str
    first_year: int | None
    last_year: int | None
    sections: tuple[dict, ...]
    t2_blocks: tuple[Block, ...]
    t3_cols: tuple[Col, ...]
    t3_rows: tuple[Row, ...]
    t3_groups: tuple[Row, ...]
    t3_note: str
    t3_collapsible: tuple[str, ...]
    t4_groups: tuple[Row, ...]
    t4_cols: tuple[Col, ...]
    markers: tuple[str, ...]
    raw: dict = field(repr=False, compare=False, hash=False, default_factory=dict)

    def cell_keys(self):
        """Every (table, block, row_id, col_id) of the template, in template order."""
        out = []
        for b in self.t2_blocks:
            for r in b.rows:
                for c in b.cols:
                    out.append(("t2", b.id, r.id, c.id))
        for r in self.t3_rows:
            for c in self.t3_cols:
                out.append(("t3", "", r.id, c.id))
        for g in self.t4_groups:
            for c in self.t4_cols:
                out.append(("t4", "", g.id, c.id))
        return out


def _cols(items) -> tuple[Col, ...]:
    return tuple(Col(i["id"], i["label"], tuple(i.get("aliases") or ()), bool(i.get("signed"))) for i in items)


def _rows(items) -> tuple[Row, ...]:
    return tuple(Row(i["id"], i["label"], tuple(i.get("aliases") or ()), i.get("group")) for i in items)


def _load(path: Path) -> Template:
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    blocks = tuple(
        Block(b["id"], b["caption"], _cols(b["cols"]), _rows(b["rows"]), b.get("dtype", "int"), b.get("unit"))
        for b in d["t2"]["blocks"]
    )
    return Template(
        id=d["id"], title=d["title"], first_year=d.get("first_year"), last_year=d.get("last_year"),
        sections=tuple(d["sections"]), t2_blocks=blocks,
        t3_cols=_cols(d["t3"]["cols"]), t3_rows=_rows(d["t3"]["rows"]), t3_groups=_rows(d["t3"]["groups"]),
        t3_note=d["t3"]["note"], t3_collapsible=tuple(d["t3"].get("collapsible_groups") or ()),
        t4_groups=_rows(d["t4"]["groups"]), t4_cols=_cols(d["t4"]["cols"]),
        markers=tuple(d.get("markers") or ()), raw=d,
    )


@functools.cache
def registry() -> dict[str, Template]:
    """All templates in rules/templates, by id."""
    return {t.id: t for t in (_load(p) for p in sorted((RULES_DIR / "templates").glob("*.yaml")))}


def get(template_id: str) -> Template:
    return registry()[template_id]


def expected_template(year: int | None) -> str | None:
    """Template a report of this year must use (template.md §3.7 step 3)."""
    if year is None:
        return None
    for t in registry().values():
        if (t.first_year is None or year >= t.first_year) and (t.last_year is None or year <= t.last_year):
            return t.id
    return "legacy2008" if year <= 2018 else None
