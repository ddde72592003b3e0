"""Rules as data: loads rules/catalogue.yaml, rules/identities.yaml and rules/weights.yaml.

Everything a rule needs that is not evaluation logic (severity, Chinese title/basis/messages, evaluator tags, the
arithmetic identities, the K-07 weights) lives in those files; this module only parses and checks them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline import templates
from pipeline.frames import SEVERITIES
from pipeline.identities import Identity, OneOf, Term, expand, is_glob  # noqa: F401 - re-exported for validate
from pipeline.identities import parse as parse_identities

RULES_DIR = templates.RULES_DIR


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
    idents = parse_identities(identities, known_rules=rules)
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
