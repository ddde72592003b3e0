"""Helpers of the rule tests (test_rules_*.py): audit a few made-up reports, pick the findings of one rule."""
from __future__ import annotations

from pipeline import validate
from test_validate import batch


def run(*reps, **kw):
    """The findings of validate.run on these reports ((reports row, cells, sections) each, as make_report gives)."""
    f, _, _ = validate.run(*batch(*reps), **kw)
    return f


def of(f, rule, rid=None):
    """The findings of `rule` (of report `rid` only when given)."""
    x = f[f["rule_id"].eq(rule)]
    return x if rid is None else x[x["report_id"].eq(rid)]
