"""synth: the project's own report generator — known numbers rendered into realistic documents, a truth JSON each.

    rep = make_report("青禾市人民政府", 2023, "gb2021", seed=7, prev=rep_2022, defects=["t4_total"])
    data, truth = render(rep, "html_word", encoding="gbk", chrome=True, file="qinghe-shi-2023.html")
    write_sample_inbox(Path("data/raw"), Path("data/sample-truth"))

Template labels and canonical ids come from pipeline.templates. See numbers.py (consistent numbers), defects.py
(defect kinds and the identity oracle), narrative.py (prose), render.py + fmt_*.py (formats), sample.py (inbox).
"""
from __future__ import annotations

from pipeline.synth.defects import KINDS as DEFECT_KINDS
from pipeline.synth.defects import apply_defects, check_identities, expected_findings, normalize_defects
from pipeline.synth.numbers import Agency, Report, build_numbers, infer_agency
from pipeline.synth.render import FORMATS, render

__all__ = ["Agency", "Report", "make_report", "render", "write_sample_inbox", "check_identities",
           "DEFECT_KINDS", "FORMATS", "infer_agency"]


def make_report(agency, year: int, template_id: str = "gb2021", seed: int = 0, prev: Report | None = None,
                defects=()) -> Report:
    """Build one report data set.

    agency: an `Agency` or a name (kind and level are then inferred from the name).
    template_id: the template whose tables the report prints ("gb2021" / "gb2019"); the defect
      "outdated_template" switches a year >= 2021 report to the gb2019 tables.
    prev: the same agency's previous-year Report: carried_over = prev's published carried_forward per column,
      t2 stock continuity, and section 五 rectifies prev's problems.
    defects: kinds (str), (kind, params) pairs or {"kind": ..., **params} dicts — see defects.KINDS and
      defects.RULE_KINDS (rule defects; some need `prev`, copied_text / identical_t3 take a `source` Report).
    """
    from pipeline.synth import narrative

    ag = agency if isinstance(agency, Agency) else infer_agency(str(agency))
    specs = normalize_defects(defects)
    tid = template_id
    if any(s["kind"] == "outdated_template" for s in specs):
        if year < 2021:
            raise ValueError("outdated_template applies to report years >= 2021")
        tid = "gb2019"
    rep = build_numbers(ag, year, tid, seed, prev)
    apply_defects(rep, specs, prev)
    rep.story = narrative.plan_story(rep, prev)
    rep.expected_findings = expected_findings(rep, prev)
    return rep


def write_sample_inbox(raw_dir, truth_dir=None):
    """Write the embedded sample inbox (documents + manifest.csv) into raw_dir and the truth JSONs into truth_dir
    (default: a `sample-truth` folder next to raw_dir). Returns the list of written document paths."""
    from pipeline.synth.sample import write_sample_inbox as _write

    return _write(raw_dir, truth_dir)
