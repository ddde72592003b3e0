"""Rules as data: loads the rule files of rules/ (and an office's local rule sets) into one Rulebook.

    rules/catalogue.yaml     every rule: severity, Chinese title/basis/messages, evaluator tags (+ R-TPL-02..05 data)
    rules/identities.yaml    intra-report arithmetic identities (shared with normalize, see pipeline/identities.py)
    rules/comparisons.yaml   further identities and inequalities, incl. cross-year ones (prev: terms), validate only
    rules/text_rules.yaml    text rules: named checks (require_any, require_groups, forbid, length, narrative_number,
                             period, title) with their keyword lists / regexes / conditions
    rules/checks.yaml        parameters of the named table, metadata and cross-report checks (deadlines, thresholds,
                             rule-making power, similarity, roll-up ...)
    rules/weights.yaml       K-07 weights
    rules/local/*.yaml       local rule sets, merged last (plus the files/folders in $AUDITOR_LOCAL_RULES, ':'-separated)

A local rule set may contain the keys `rules` (new rules or changed fields of existing ones), `text_rules` (new text
rules, or a rule's clauses replaced), `comparisons` (appended), `checks` (parameters, merged key by key). Everything
is checked when loaded: an unknown kind, a rule id without a catalogue entry or an invalid severity is an error.
"""
from __future__ import annotations

import copy
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline import templates
from pipeline.frames import SEVERITIES, SEVERITY_RANK
from pipeline.identities import Identity, OneOf, Term, expand, is_glob  # noqa: F401 - re-exported for validate
from pipeline.identities import parse as parse_identities

RULES_DIR = templates.RULES_DIR
LOCAL_ENV = "AUDITOR_LOCAL_RULES"

TEXT_KINDS = ("require_any", "require_groups", "forbid", "length", "narrative_number", "period", "title")
OPS = ("eq", "ge", "le")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title_zh: str
    basis_zh: str
    evaluator_tags: tuple[str, ...]
    messages: dict = field(compare=False, hash=False)  # variant -> template ("default" is message_zh)
    check: dict = field(compare=False, hash=False, default_factory=dict)
    severities: dict = field(compare=False, hash=False, default_factory=dict)  # variant -> severity

    def message(self, variant: str = "default") -> str:
        return self.messages.get(variant) or self.messages["default"]

    def severity_of(self, variant: str = "default") -> str:
        return self.severities.get(variant, self.severity)


@dataclass(frozen=True)
class Check(Identity):
    """An identity or inequality of comparisons.yaml. Terms may carry a sign ('-col.repealed_count') and refer to
    the same agency's previous-year report ('prev:col.in_force_count'). lhs `op` rhs must hold."""
    op: str = "eq"
    severity: str | None = None
    skip_if_all_missing: tuple[tuple[str, ...], ...] = ()   # groups of term patterns

    @property
    def cross_year(self) -> bool:
        return any(isinstance(t, str) and t.lstrip("-").startswith("prev:") for t in self.lhs + self.rhs)


@dataclass(frozen=True)
class Rulebook:
    rules: dict
    identities: tuple[Identity, ...]
    weights: dict
    raw: dict = field(compare=False, hash=False)
    comparisons: tuple[Check, ...] = ()
    text_rules: dict = field(compare=False, hash=False, default_factory=dict)   # rule id -> [clause dict]
    checks: dict = field(compare=False, hash=False, default_factory=dict)       # rule id / name -> params
    sources: tuple[str, ...] = ()

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    @property
    def uncertain_severity(self) -> str:
        return self.raw.get("defaults", {}).get("uncertain_severity", "warning")

    def uncertain_severity_for(self, severity: str) -> str:
        """UNCERTAIN findings carry defaults.uncertain_severity, never more than the rule's own severity."""
        u = self.uncertain_severity
        return u if SEVERITY_RANK[u] >= SEVERITY_RANK[severity] else severity

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

    def params(self, name: str) -> dict:
        return self.checks.get(name) or {}


# ---------------------------------------------------------------------------------------------------------------
def _load_yaml(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def _merge(base: dict, extra: dict) -> dict:
    """Key-by-key merge of mappings (lists and scalars of `extra` replace)."""
    out = dict(base)
    for k, v in (extra or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _parse_rules(cat_rules: dict) -> dict:
    rules = {}
    for rid, d in (cat_rules or {}).items():
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
        sev = dict(d.get("severities") or {})
        for v, s in sev.items():
            if s not in SEVERITIES:
                raise ValueError(f"catalogue {rid}: severities.{v} must be one of {SEVERITIES}")
        for k in ("title_zh", "basis_zh"):
            if not d.get(k):
                raise ValueError(f"catalogue {rid}: {k} is required")
        rules[rid] = Rule(rid, d["severity"], d.get("title_zh", ""), d.get("basis_zh", ""),
                          tuple(d.get("evaluator_tags") or ()), msgs, dict(d.get("check") or {}), sev)
    return rules


def _plain_term(t: str) -> str:
    t = t[1:] if t.startswith("-") else t
    return t


def parse_comparisons(items: list, known_rules: dict) -> tuple[Check, ...]:
    out = []
    for i, d in enumerate(items or []):
        where = f"comparisons #{i} ({d.get('id')})"
        base = parse_identities({"identities": [{k: v for k, v in d.items()
                                                 if k not in ("op", "severity", "skip_if_all_missing")}]},
                                known_rules=known_rules)[0]
        op = d.get("op", "eq")
        if op not in OPS:
            raise ValueError(f"{where}: op must be one of {OPS}")
        sev = d.get("severity")
        if sev is not None and sev not in SEVERITIES:
            raise ValueError(f"{where}: severity must be one of {SEVERITIES}")
        skip = d.get("skip_if_all_missing") or ()
        skip = [skip] if isinstance(skip, str) else list(skip)
        plain = tuple(x for x in skip if isinstance(x, str))
        skip = tuple(tuple(g) for g in skip if not isinstance(g, str)) + ((plain,) if plain else ())
        for t in base.lhs + base.rhs:
            if isinstance(t, str) and _plain_term(t).count(":") > 1:
                raise ValueError(f"{where}: term {t!r}: only the prefix prev: is supported")
        out.append(Check(**{f: getattr(base, f) for f in Identity.__dataclass_fields__}, op=op, severity=sev,
                         skip_if_all_missing=skip))
    return tuple(out)


def _check_text_rules(text_rules: dict, rules: dict) -> dict:
    out = {}
    for rid, clauses in (text_rules or {}).items():
        if rid not in rules:
            raise ValueError(f"text_rules {rid}: no catalogue entry (rules.{rid}) for this rule id")
        clauses = [clauses] if isinstance(clauses, dict) else list(clauses or [])
        for k, c in enumerate(clauses):
            kind = c.get("kind")
            if kind not in TEXT_KINDS:
                raise ValueError(f"text_rules {rid} #{k}: kind must be one of {TEXT_KINDS}, got {kind!r}")
            sev = c.get("severity")
            if sev is not None and sev not in SEVERITIES:
                raise ValueError(f"text_rules {rid} #{k}: severity must be one of {SEVERITIES}")
            for key in ("patterns", "unless", "zero_patterns", "sentence_requires"):
                for p in c.get(key) or []:
                    try:
                        re.compile(p.replace("{year}", "2000").replace("{prev_year}", "1999")
                                   .replace("{next_year}", "2001"))
                    except re.error as e:
                        raise ValueError(f"text_rules {rid} #{k}: bad regex {p!r}: {e}") from None
            for g in c.get("groups") or []:
                for p in g.get("patterns") or []:
                    re.compile(p)
            for it in c.get("items") or []:
                for p in it.get("patterns") or []:
                    if "(?P<n>" not in p:
                        raise ValueError(f"text_rules {rid} #{k}: narrative pattern needs a (?P<n>...) group: {p!r}")
                    re.compile(p)
        out[rid] = clauses
    return out


def local_sources(local_dir: Path | None = None) -> list[Path]:
    """rules/local/*.yaml (sorted) then the files/folders listed in $AUDITOR_LOCAL_RULES."""
    paths: list[Path] = []
    d = local_dir if local_dir is not None else RULES_DIR / "local"
    if d.is_dir():
        paths += sorted(p for p in d.glob("*.yaml") if p.is_file())
    for item in filter(None, os.environ.get(LOCAL_ENV, "").split(os.pathsep)):
        p = Path(item)
        if p.is_dir():
            paths += sorted(x for x in p.glob("*.yaml") if x.is_file())
        elif p.is_file():
            paths.append(p)
        else:
            raise FileNotFoundError(f"{LOCAL_ENV}: {p} does not exist")
    return paths


def build(catalogue: dict, identities: dict, weights: dict, comparisons: dict | None = None,
          text_rules: dict | None = None, checks: dict | None = None, local: list[dict] | None = None,
          sources: tuple[str, ...] = ()) -> Rulebook:
    cat = copy.deepcopy(catalogue)
    comps = list((comparisons or {}).get("comparisons") or [])
    trules = dict((text_rules or {}).get("text_rules") or {})
    chk = dict((checks or {}).get("checks") or {})
    for loc in local or []:
        for rid, d in (loc.get("rules") or {}).items():
            cat.setdefault("rules", {})[rid] = _merge(cat.get("rules", {}).get(rid) or {}, d)
        trules.update(loc.get("text_rules") or {})
        comps.extend(loc.get("comparisons") or [])
        chk = _merge(chk, loc.get("checks") or {})
    rules = _parse_rules(cat.get("rules"))
    idents = parse_identities(identities, known_rules=rules)
    k07 = weights.get("K-07") or {}
    w = {"base": float(k07.get("base", 100)), "floor": float(k07.get("floor", 0)),
         "weights": {s: float((k07.get("weights") or {}).get(s, 0)) for s in SEVERITIES}}
    return Rulebook(rules, tuple(idents), w, cat, parse_comparisons(comps, rules), _check_text_rules(trules, rules),
                    chk, tuple(sources))


def _default_files() -> dict:
    names = {"catalogue": "catalogue.yaml", "identities": "identities.yaml", "weights": "weights.yaml",
             "comparisons": "comparisons.yaml", "text_rules": "text_rules.yaml", "checks": "checks.yaml"}
    return {k: RULES_DIR / v for k, v in names.items()}


@functools.cache
def load() -> Rulebook:
    """The rulebook from rules/*.yaml and the local rule sets (cached per process)."""
    f = _default_files()
    locs = local_sources()
    return build(*(_load_yaml(f[k]) if f[k].is_file() else {} for k in
                   ("catalogue", "identities", "weights", "comparisons", "text_rules", "checks")),
                 local=[_load_yaml(p) for p in locs], sources=tuple(str(p) for p in locs))


def load_from(catalogue: Path, identities: Path, weights: Path, comparisons: Path | None = None,
              text_rules: Path | None = None, checks: Path | None = None, local=()) -> Rulebook:
    """A rulebook from explicit files (tests, experiments). Files not given default to those of rules/."""
    f = _default_files()

    def rd(p, key):
        p = p if p is not None else f[key]
        return _load_yaml(p) if Path(p).is_file() else {}
    return build(rd(catalogue, "catalogue"), rd(identities, "identities"), rd(weights, "weights"),
                 rd(comparisons, "comparisons"), rd(text_rules, "text_rules"), rd(checks, "checks"),
                 local=[_load_yaml(p) for p in local], sources=tuple(str(p) for p in local))
