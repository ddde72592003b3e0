"""Normalize: one `Document` → canonical long-form cells, sections and the report's metadata row.

Every cell of the detected template is emitted, found or not (state MISSING when absent).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import templates as T
from ..document import Document
from .classify import classify, norm_table_text
from .metadata import agency_kind, agency_level, agency_year, find_title, publication_date
from .records import document_records
from .sections import detect_sections
from .tables import Cell, TableResult, assemble_t2, assemble_t3, assemble_t4, find_zones, missing_cell

TABLE_ZH = {"t2": "表二", "t3": "表三", "t4": "表四"}


@dataclass
class Normalized:
    report: dict
    cells: list[dict] = field(default_factory=list)
    sections: list[dict] = field(default_factory=list)


def _assembly_template(classified: str, year: int | None) -> str | None:
    if classified in ("gb2021", "gb2019"):
        return classified
    if classified == "legacy2008":
        return None
    expected = T.expected_template(year)
    return expected if expected in T.registry() else "gb2021"


def normalize(doc: Document, report_id: str, overrides: dict | None = None) -> Normalized:
    overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    full_text = doc.text
    head = "\n".join(b.text for b in doc.blocks[:8])
    title = find_title(doc.title, head)
    agency, year = agency_year(title)
    if not agency:
        agency, year2 = agency_year(find_title("", head))
        year = year or year2
    report = {
        "report_id": report_id, "source_file": doc.source_file, "sha256": doc.sha256, "format": doc.format,
        "agency": agency, "agency_kind": "", "level": "", "year": year, "template": "unknown",
        "published_at": publication_date(doc.meta, full_text) if doc.status != "failed" else "",
        "status": doc.status, "error": doc.error, "n_errors": 0, "n_warnings": 0, "n_infos": 0,
        "title": title, "encoding": doc.encoding, "url": doc.meta.get("url", "") or doc.meta.get("source", ""),
        "template_markers_2021": 0, "template_markers_2019": 0, "template_expected": "",
    }
    if "year" in overrides:
        try:
            overrides["year"] = int(str(overrides["year"]).strip())
        except ValueError:
            overrides.pop("year")
    for k in ("agency", "year", "published_at", "url", "agency_kind", "level"):
        if k in overrides:
            report[k] = overrides[k]
    report["agency_kind"] = report["agency_kind"] or agency_kind(report["agency"])
    report["level"] = report["level"] or agency_level(report["agency"])
    report["template_expected"] = T.expected_template(report["year"]) or ""
    if doc.status == "failed":
        return Normalized(report=report)

    recs = document_records(doc)
    zones = find_zones(recs)
    lo = min(z[0] for z in zones.values())
    hi = max(z[1] for z in zones.values())
    table_key = norm_table_text([r.text for r in recs[lo:hi]]) if zones.get("t3") or zones.get("t4") or lo > 0 else ""
    t3_zone = zones.get("t3")
    t3_rows_with_values = {e.id for r in (recs[t3_zone[0]:t3_zone[1]] if t3_zone else []) if r.values
                           for e in r.entries if e.kind == "row" and e.table == "t3"}
    other_sub = any(x.startswith("t3.other.") for x in t3_rows_with_values)
    other_single = "t3.other" in t3_rows_with_values
    template, m21, m19 = classify(table_key, full_text, other_sub, other_single, normalized=True)
    report.update(template=template, template_markers_2021=m21, template_markers_2019=m19)

    sections = [{"report_id": report_id, **s} for s in detect_sections(full_text)]
    # the text before the first heading (title, legal basis, statistical period statement): sec.preamble, order 0
    first = min((s["char_start"] for s in sections), default=len(full_text))
    if full_text[:first].strip():
        sections.insert(0, {"report_id": report_id, "section_id": "sec.preamble", "order": 0, "heading": "",
                            "canonical_heading": "", "char_start": 0, "text": full_text[:first].strip()})
    tpl_id = _assembly_template(template, report["year"])
    cells: list[Cell] = []
    found = {}
    if tpl_id is not None:
        tpl = T.get(tpl_id)
        t2_cells, found["t2"], _ = assemble_t2(recs, zones["t2"], tpl, report_id)
        t3 = assemble_t3(recs, t3_zone, tpl, report_id) if t3_zone else None
        if t3 is None:  # no t3 rows anywhere: every cell MISSING
            t3 = TableResult(cells=[missing_cell(report_id, "t3", "", r.id, c.id) for r in tpl.t3_rows
                                    for c in tpl.t3_cols])
        found["t3"] = t3.found.get("t3", False)
        t4_cells, found["t4"] = assemble_t4(recs, zones.get("t4"), tpl, report_id)
        cells = t2_cells + t3.cells + t4_cells
        missing_tables = [TABLE_ZH[t] for t in ("t2", "t3", "t4") if not found[t]]
        if len(missing_tables) == 3:
            report["status"] = "partial"
            report["error"] = ("未找到任何统计表（表格可能是图片或附件） | No statistical table found (tables may be "
                               "images or attachments)")
        elif missing_tables:
            report["status"] = "partial"
            report["error"] = (f"未找到{'、'.join(missing_tables)} | Table(s) not found: "
                               + ", ".join({'表二': 't2', '表三': 't3', '表四': 't4'}[t] for t in missing_tables))
    return Normalized(report=report, cells=cells, sections=sections)
