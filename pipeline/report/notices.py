"""整改通知单: one DOCX per agency with errors or warnings, in OUT/notices/ (python-docx).

A formal notice, ready to print on A4 (GB/T 9704 margins): title 关于……政府信息公开工作年度报告问题的整改通知, the
addressee, an opening paragraph, then per report year every problem with 位置 (where it is), 问题 (the finding's
message), 依据/要求 (the template or legal basis) and 整改要求 (what to do), a closing paragraph with the deadline,
and a blank signature block to stamp. Informational findings (severity info) are not problems and are left out.

Chinese fonts are set on every run through ``w:eastAsia`` (仿宋 for the body, 黑体/宋体 for headings: fonts every
Chinese Windows/WPS installation has), so Word does not fall back to a Latin font for the Chinese text.
"""

from __future__ import annotations

import logging
from copy import deepcopy
from pathlib import Path

import pandas as pd
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from . import labels as L
from .csvout import _is_missing
from .workbook import file_stem, run_parallel

log = logging.getLogger(__name__)

NOTICES_DIR = "notices"
NOTICE_SEVERITIES = ("error", "warning")
DEADLINE_ZH = "15个工作日"

BODY_FONT = "仿宋"
HEADING_FONT = "黑体"
TITLE_FONT = "宋体"
LATIN_FONT = "Times New Roman"

NUMERALS = "一二三四五六七八九十"

# 整改要求 by rule group (rules.md families); UNCERTAIN findings get their own wording.
REMEDY_BY_GROUP = {
    "T2": "请核对主动公开工作台账，更正表二中的相应数据后重新发布年度报告，并在报告中说明更正情况。",
    "T3": "请核对政府信息公开申请办理台账，按表三勾稽关系更正相应数据后重新发布年度报告，并说明更正情况。",
    "T4": "请核对行政复议、行政诉讼案件台账，更正表四中的相应数据后重新发布年度报告，并说明更正情况。",
    "TPL": "请按照现行年度报告格式（国办公开办函〔2021〕30号）重新编制并发布年度报告。",
    "STR": "请按照年度报告格式规定的六个部分补齐相应内容后重新发布年度报告。",
    "META": "请按规定规范年度报告的标题、统计期限和发布时间，今后严格按照法定时限发布。",
    "SEC": "请在年度报告相应部分补充规定的内容，做到内容完整、表述具体。",
    "X": "请对照有关报告核实数据和内容的真实性、独立性，确有照搬或数据不一致的，予以更正并说明原因。",
    "EXT": "请核对原文对应内容，确保表格数据规范填写、清晰可辨，必要时更正后重新发布。",
}
REMEDY_DEFAULT = "请对照有关规定核实并整改，确有错误的予以更正。"
REMEDY_UNCERTAIN = "该项无法根据已发布文本确认，请对照原始台账核实；确有错误的，予以更正并重新发布。"


def _text(v) -> str:
    return "" if _is_missing(v) else str(v)


_RPR: dict[tuple, object] = {}
_PPR: dict[tuple, object] = {}


def _font(run, east_asia: str, size: float, bold: bool = False) -> None:
    """Latin and East Asian font, size and weight on the run itself (w:rFonts w:eastAsia), so Word and WPS never
    substitute a Latin font for the Chinese text. The rPr element is built once per style and copied."""
    key = (east_asia, size, bold)
    rpr = _RPR.get(key)
    if rpr is None:
        run.font.name = LATIN_FONT
        run.font.size = Pt(size)
        run.font.bold = bold
        rfonts = run._element.get_or_add_rPr().get_or_add_rFonts()
        rfonts.set(qn("w:eastAsia"), east_asia)
        rfonts.set(qn("w:ascii"), LATIN_FONT)
        rfonts.set(qn("w:hAnsi"), LATIN_FONT)
        _RPR[key] = deepcopy(run._element.rPr)
        return
    run._element.insert(0, deepcopy(rpr))


def _para(doc, text: str = "", font: str = BODY_FONT, size: float = 16, bold: bool = False, align=None,
          indent: bool = True, space_after: float = 0):
    p = doc.add_paragraph()
    key = (size if indent else 0, align, space_after)
    ppr = _PPR.get(key)
    if ppr is None:
        fmt = p.paragraph_format
        fmt.line_spacing = Pt(28)          # 28-point fixed line spacing, as in official documents
        fmt.space_after = Pt(space_after)
        fmt.space_before = Pt(0)
        if indent:
            fmt.first_line_indent = Pt(size * 2)
        if align is not None:
            p.alignment = align
        _PPR[key] = deepcopy(p._p.pPr)
    else:
        p._p.insert(0, deepcopy(ppr))
    if text:
        _font(p.add_run(text), font, size, bold)
    return p


def _labelled(doc, label: str, text: str) -> None:
    p = _para(doc)
    _font(p.add_run(f"{label}："), HEADING_FONT if label else BODY_FONT, 16)
    _font(p.add_run(text), BODY_FONT, 16)


def _setup(doc) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    style = doc.styles["Normal"]
    style.font.name = LATIN_FONT
    style.font.size = Pt(16)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    props = doc.core_properties
    props.author = "政府信息公开年度报告审核"
    props.comments = "由年度报告批量审核工具生成"


def _ordinal(i: int) -> str:
    if i <= 10:
        return NUMERALS[i - 1]
    tens, ones = divmod(i, 10)
    return (NUMERALS[tens - 1] if tens > 1 else "") + "十" + (NUMERALS[ones - 1] if ones else "")


def remedy(rule_id: str, status: str) -> str:
    if status == "UNCERTAIN":
        return REMEDY_UNCERTAIN
    return REMEDY_BY_GROUP.get(L.rule_group(rule_id), REMEDY_DEFAULT)


_DOC = None


def _new_document(agency: str):
    """The page set-up and styles are built once; each notice empties the body and fills it again (re-opening a
    package costs more than writing a notice)."""
    global _DOC
    if _DOC is None:
        _DOC = Document()
        _setup(_DOC)
    body = _DOC.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)
    _DOC.core_properties.title = f"关于{agency}政府信息公开工作年度报告问题的整改通知"
    return _DOC


def build_notice(agency: str, reports: list[dict], findings: list[dict]):
    """The notice Document for one agency: *reports* its reports (ordered), *findings* its errors/warnings."""
    doc = _new_document(agency)
    years = sorted({int(f["year"]) for f in findings if not _is_missing(f.get("year"))})
    year_text = "、".join(f"{y}年度" for y in years)
    _para(doc, f"关于{agency}{year_text}政府信息公开工作年度报告问题的整改通知", TITLE_FONT, 22, bold=True,
          align=WD_ALIGN_PARAGRAPH.CENTER, indent=False, space_after=12)
    _para(doc, f"{agency}：", indent=False)
    n = len(findings)
    n_err = sum(f.get("severity") == "error" for f in findings)
    _para(doc, "根据《中华人民共和国政府信息公开条例》第四十九条、第五十条和国务院办公厅政府信息公开办公室印发的"
               f"《中华人民共和国政府信息公开工作年度报告格式》，我们对你单位公开的{year_text or ''}政府信息公开工作"
               f"年度报告进行了审核，发现问题{n}项（其中错误{n_err}项、警告{n - n_err}项）。现将有关问题通知如下，"
               "请认真对照整改。")
    by_report: dict[str, list[dict]] = {}
    for f in findings:
        by_report.setdefault(f["report_id"], []).append(f)
    part = 0
    for r in reports:
        rid = r["report_id"]
        if rid not in by_report:
            continue
        part += 1
        g = by_report[rid]
        year = "" if _is_missing(r.get("year")) else f"{int(r['year'])}年度"
        title = _text(r.get("title")) or f"{agency}{year}政府信息公开工作年度报告"
        _para(doc, f"{_ordinal(part)}、{year}报告存在的问题", HEADING_FONT, 16)
        _para(doc, f"审核对象：《{title}》（文件：{_text(r.get('source_file'))}）。")
        template = _text(r.get("template")) or "gb2021"
        for i, f in enumerate(g, start=1):
            rule_id = _text(f.get("rule_id"))
            name = L.rule_title(rule_id) or rule_id
            sev = L.SEVERITY_ZH.get(_text(f.get("severity")), "")
            status = _text(f.get("status"))
            p = _para(doc)
            _font(p.add_run(f"（{_ordinal(i)}）{name}"), "楷体", 16, bold=True)
            _font(p.add_run(f"（{rule_id}，{sev}{'，存疑' if status == 'UNCERTAIN' else ''}）"), BODY_FONT, 16)
            _labelled(doc, "位置", L.place(f.get("table"), f.get("row_id"), f.get("col_id"), f.get("section_id"),
                                           template, f.get("location")))
            _labelled(doc, "问题", _text(f.get("message")))
            basis = _text(f.get("basis"))
            if basis:
                _labelled(doc, "依据/要求", basis)
            _labelled(doc, "整改要求", remedy(rule_id, status))
    _para(doc, f"请你单位自收到本通知之日起{DEADLINE_ZH}内完成整改，更正后的年度报告应在政府信息公开专栏重新发布"
               "并说明更正情况，同时将整改情况书面报送。对审核结论有异议的，请在上述期限内提出并附相关材料。")
    _para(doc, "")
    _para(doc, "政府信息公开工作主管部门（盖章）", align=WD_ALIGN_PARAGRAPH.RIGHT, indent=False)
    _para(doc, "年    月    日", align=WD_ALIGN_PARAGRAPH.RIGHT, indent=False)
    return doc


def _notice_job(item) -> None:
    path, name, reps, fa = item
    build_notice(name, reps, fa).save(path)


def write_notices(notices_dir: Path, reports: pd.DataFrame, findings: pd.DataFrame) -> dict[str, Path]:
    """One DOCX per agency that has errors or warnings; returns agency -> written path (in agency order)."""
    if findings.empty:
        return {}
    f = findings[findings["severity"].isin(NOTICE_SEVERITIES)]
    if f.empty:
        return {}
    agency = f["agency"].astype(object).map(lambda v: _text(v).strip() or "（未识别机关）")
    rep_agency = reports["agency"].astype(object).map(lambda v: _text(v).strip() or "（未识别机关）")
    notices_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    written: dict[str, Path] = {}
    f = f.assign(_agency=agency)
    rep = reports.assign(_agency=rep_agency, _y=pd.to_numeric(reports["year"], errors="coerce"))
    rep = rep.sort_values(["_agency", "_y", "source_file"], kind="stable")
    rep_records: dict[str, list[dict]] = {}
    for r in rep.to_dict("records"):
        rep_records.setdefault(r["_agency"], []).append(r)
    by_agency: dict[str, list[dict]] = {}
    for x in f.to_dict("records"):
        by_agency.setdefault(x["_agency"], []).append(x)
    jobs = []
    for name in sorted(by_agency):
        fa = by_agency[name]
        ids = {x["report_id"] for x in fa}
        path = notices_dir / f"{file_stem(name, used)}_整改通知.docx"
        jobs.append((str(path), name, [r for r in rep_records.get(name, []) if r["report_id"] in ids], fa))
        written[name] = path
    run_parallel(_notice_job, jobs, ())
    return written
