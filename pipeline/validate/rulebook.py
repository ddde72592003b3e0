"""Rules as data: loads rules/catalogue.yaml, rules/identities.yaml and rules/weights.yaml.

Everything a rule needs that is not evaluation logic (severity, Chinese title/basis/messages, evaluator tags, the
arithmetic identities, the K-07 weights) lives in those files; this module only parses and checks them.
"""
from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline import templates
from pipeline.frames import SEVERITIES

RULES_DIR = templates.RULES_DIR
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title_zh: str
    basis_zh: str
    evaluator_tags: tuple[str, ...]
    messages: dict = field(compare=False, hash=False)  # variant -> template ("default" is message_zh)
    check: dict = field(compare=False, hash=False, default_factory=dict)

    def message(self, variant: str = "default") -> str:
        return self.messages.get(variant) or self.messages["default"]


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


@dataclass(frozen=True)
class Rulebook:
    rules: dict
    identities: tuple[Identity, ...]
    weights: dict
    raw: dict = field(compare=False, hash=False)

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    @property
    def uncertain_severity(self) -> str:
        return self.raw.get("defaults", {}).get("uncertain_severity", "warning")

    @property
    def label_template(self) -> str:
        return self.raw.get("defaults", {}).get("label_template", "gb2021")

    def phrase(self, key: str):
        return self.raw["phrases_zh"][key]

    def table_zh(self, table: str) -> str:
        t = self.raw["tables"].get(table)
        return f"{t['short_zh']}（{t['title_zh']}）" if t else table

    def template_zh(self, template_id: str) -> str:
        return self.raw["templates_zh"].get(template_id, template_id)


def is_glob(term: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in term)


def expand(terms, available: list[str]) -> list[str]:
    """Plain ids are kept as they are (absent ones count as MISSING); globs match ids in `available` (in its order)."""
    out: list[str] = []
    for t in terms:
        if is_glob(t):
            out.extend(a for a in available if fnmatch.fnmatchcase(a, t) and a not in out)
        elif t not in out:
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


def _load_yaml(name: str) -> dict:
    return yaml.safe_load((RULES_DIR / name).read_text(encoding="utf-8")) or {}


def _parse(catalogue: dict, identities: dict, weights: dict) -> Rulebook:
    rules = {}
    for rid, d in (catalogue.get("rules") or {}).items():
        if d.get("severity") not in SEVERITIES:
            raise ValueError(f"catalogue {rid}: severity must be one of {SEVERITIES}")
        msgs = {}
        for k, v in d.items():
            if k == "message_zh":
                msgs["default"] = v
            elif k.startswith("message_") and k.endswith("_zh"):
                msgs[k[len("message_"):-len("_zh")]] = v
        if "default" not in msgs:
            raise ValueError(f"catalogue {rid}: message_zh is required")
        rules[rid] = Rule(rid, d["severity"], d.get("title_zh", ""), d.get("basis_zh", ""),
                          tuple(d.get("evaluator_tags") or ()), msgs, dict(d.get("check") or {}))
    idents = []
    for i, d in enumerate(identities.get("identities") or []):
        where = f"identities.yaml #{i} ({d.get('id')})"
        if d.get("rule") not in rules:
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
    k07 = weights.get("K-07") or {}
    w = {"base": float(k07.get("base", 100)), "floor": float(k07.get("floor", 0)),
         "weights": {s: float((k07.get("weights") or {}).get(s, 0)) for s in SEVERITIES}}
    return Rulebook(rules, tuple(idents), w, catalogue)


@functools.cache
def load() -> Rulebook:
    """The rulebook from rules/*.yaml (cached per process)."""
    return _parse(_load_yaml("catalogue.yaml"), _load_yaml("identities.yaml"), _load_yaml("weights.yaml"))


def load_from(catalogue: Path, identities: Path, weights: Path) -> Rulebook:
    """A rulebook from explicit files (tests, experiments)."""
    def rd(p):
        return yaml.safe_load(Path(p).read_text(encoding="utf-8")) or {}
    return _parse(rd(catalogue), rd(identities), rd(weights))
