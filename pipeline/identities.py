"""The arithmetic identities of rules/identities.yaml as data objects, shared by two stages.

validate evaluates them over the whole batch (great-expectations); normalize uses the same identities to choose
how digits printed without separators split into cells. One definition, two uses.
"""
from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass

import yaml

from .templates import RULES_DIR

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class OneOf:
    """Alternatives of terms; the first one present in the report is used (see identities.yaml)."""
    alternatives: tuple[tuple[str, ...], ...]


Term = str | OneOf


@dataclass(frozen=True)
class Identity:
    id: str
    rule: str
    table: str
    for_each: str                 # "col" (terms are row ids) or "row" (terms are col ids)
    over: tuple[str, ...] | None  # None = every row/col present
    lhs: tuple[Term, ...]
    rhs: tuple[Term, ...]
    lhs_desc_zh: str | None = None
    rhs_desc_zh: str | None = None

    @property
    def inst_dim(self) -> str:
        return "col_id" if self.for_each == "col" else "row_id"

    @property
    def term_dim(self) -> str:
        return "row_id" if self.for_each == "col" else "col_id"

    @property
    def anchor(self) -> str:
        """The first lhs term: the row (for_each col) or column (for_each row) of the finding."""
        first = self.lhs[0]
        if not isinstance(first, str) or is_glob(first):
            raise ValueError(f"identity {self.id}: the first lhs term must be a plain id")
        return first

    def resolve(self, side: tuple[Term, ...], present: list[str]) -> list[str]:
        """The term ids of one side for a report whose table has the (non-MISSING) ids `present`, in order."""
        flat: list[str] = []
        for t in side:
            if isinstance(t, OneOf):
                chosen = next((alt for alt in t.alternatives if expand(alt, present, only_present=True)),
                              t.alternatives[-1])
                flat.extend(expand(chosen, present))
            else:
                flat.extend(expand([t], present))
        return list(dict.fromkeys(flat))

    def holds(self, value, present: list[str], instances: list[str]) -> int:
        """How many instances hold; `value(term, instance)` gives a cell value (0 for blank/missing)."""
        lhs, rhs = self.resolve(self.lhs, present), self.resolve(self.rhs, present)
        over = instances if self.over is None else expand(self.over, instances, only_present=True)
        return sum(1 for i in over
                   if abs(sum(value(t, i) for t in lhs) - sum(value(t, i) for t in rhs)) < 1e-6)

    def instances_of(self, instances: list[str]) -> list[str]:
        return instances if self.over is None else expand(self.over, instances, only_present=True)


def is_glob(term: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in term)


def expand(terms, available: list[str], only_present: bool = False) -> list[str]:
    """Globs match ids in `available` (in its order); plain ids are kept (absent ones count as MISSING) unless
    `only_present`."""
    out: list[str] = []
    for t in terms:
        if is_glob(t):
            out.extend(a for a in available if fnmatch.fnmatchcase(a, t) and a not in out)
        elif t not in out and (not only_present or t in available):
            out.append(t)
    return out


def _term(x, where: str) -> Term:
    if isinstance(x, str):
        return x
    if isinstance(x, dict) and set(x) == {"one_of"} and isinstance(x["one_of"], list) and x["one_of"]:
        alts = []
        for alt in x["one_of"]:
            alt = [alt] if isinstance(alt, str) else alt
            if not alt or not all(isinstance(a, str) for a in alt):
                raise ValueError(f"{where}: each one_of alternative must be a list of ids/patterns")
            alts.append(tuple(alt))
        return OneOf(tuple(alts))
    raise ValueError(f"{where}: a term is an id, a glob pattern or {{one_of: [[...], ...]}}, got {x!r}")


def parse(data: dict, known_rules=None) -> tuple[Identity, ...]:
    idents = []
    for i, d in enumerate(data.get("identities") or []):
        where = f"identities.yaml #{i} ({d.get('id')})"
        if known_rules is not None and d.get("rule") not in known_rules:
            raise ValueError(f"{where}: rule {d.get('rule')!r} is not in catalogue.yaml")
        if d.get("for_each") not in ("col", "row"):
            raise ValueError(f"{where}: for_each must be col or row")
        if d.get("table") not in ("t2", "t3", "t4"):
            raise ValueError(f"{where}: table must be t2, t3 or t4")
        over = d.get("over", "all")
        over = None if over in (None, "all") else tuple([over] if isinstance(over, str) else over)
        ident = Identity(
            id=str(d.get("id") or f"identity{i}"), rule=d["rule"], table=d["table"], for_each=d["for_each"],
            over=over, lhs=tuple(_term(x, where) for x in d["lhs"]), rhs=tuple(_term(x, where) for x in d["rhs"]),
            lhs_desc_zh=d.get("lhs_desc_zh"), rhs_desc_zh=d.get("rhs_desc_zh"),
        )
        ident.anchor  # noqa: B018  (validates the first lhs term)
        idents.append(ident)
    return tuple(idents)


@functools.cache
def load() -> tuple[Identity, ...]:
    """The identities of rules/identities.yaml (cached per process)."""
    return parse(yaml.safe_load((RULES_DIR / "identities.yaml").read_text(encoding="utf-8")) or {})


@functools.cache
def for_table(table: str, for_each: str) -> tuple[Identity, ...]:
    return tuple(i for i in load() if i.table == table and i.for_each == for_each)
