"""整改通知单: one DOCX per agency with errors or warnings, in OUT/notices/ (python-docx).

A formal notice, ready to print on A4 (GB/T 9704 margins): title 关于……政府信息公开工作年度报告问题的整改通知, the
addressee, an opening paragraph, then per report year every problem with 位置 (where it is), 问题 (the finding's
message), 依据/要求 (the template or legal basis) and 整改要求 (what to do), a closing paragraph with the deadline,
and a blank signature block to stamp. Informational findings (severity info) are not problems and are left out.

Chinese fonts are set on every run through ``w:eastAsia`` (仿宋 for the body, 黑体/宋体 for headings: fonts every
Chinese Windows/WPS installation has), so Word does not fall back to a Latin font for the Chinese text.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

import pandas as pd
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from lxml import etree

from . import labels as L
from .xlsx import xml_text
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


# ------------------------------------------------------------------------------------------------ content

# A notice is a list of paragraphs: (paragraph format, runs); a paragraph format is (first-line indent in points or
# 0, alignment or None, space after in points), a run (text, (East Asian font, size in points, bold)).
Run = tuple  # (text, (east_asia, size, bold))
Para = tuple  # ((indent, align, space_after), [Run, ...])


def _p(text: str = "", font: str = BODY_FONT, size: float = 16, bold: bool = False, align=None,
       indent: bool = True, space_after: float = 0) -> Para:
    """A paragraph of one run (none for an empty text)."""
    return ((size if indent else 0, align, space_after), [(text, (font, size, bold))] if text else [])


def _labelled(label: str, text: str) -> Para:
    return ((16, None, 0), [(f"{label}：", (HEADING_FONT if label else BODY_FONT, 16, False)),
                            (text, (BODY_FONT, 16, False))])


def notice_title(agency: str) -> str:
    return f"关于{agency}政府信息公开工作年度报告问题的整改通知"


def notice_content(agency: str, reports: list[dict], findings: list[dict]) -> list[Para]:
    """The paragraphs of the notice for one agency: *reports* its reports (ordered), *findings* its
    errors/warnings."""
    years = sorted({int(f["year"]) for f in findings if not _is_missing(f.get("year"))})
    year_text = "、".join(f"{y}年度" for y in years)
    out = [_p(f"关于{agency}{year_text}政府信息公开工作年度报告问题的整改通知", TITLE_FONT, 22, bold=True,
              align=WD_ALIGN_PARAGRAPH.CENTER, indent=False, space_after=12),
           _p(f"{agency}：", indent=False)]
    n = len(findings)
    n_err = sum(f.get("severity") == "error" for f in findings)
    out.append(_p("根据《中华人民共和国政府信息公开条例》第四十九条、第五十条和国务院办公厅政府信息公开办公室印发的"
                  f"《中华人民共和国政府信息公开工作年度报告格式》，我们对你单位公开的{year_text or ''}政府信息公开工作"
                  f"年度报告进行了审核，发现问题{n}项（其中错误{n_err}项、警告{n - n_err}项）。现将有关问题通知如下，"
                  "请认真对照整改。"))
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
        out.append(_p(f"{_ordinal(part)}、{year}报告存在的问题", HEADING_FONT, 16))
        out.append(_p(f"审核对象：《{title}》（文件：{_text(r.get('source_file'))}）。"))
        template = _text(r.get("template")) or "gb2021"
        for i, f in enumerate(g, start=1):
            rule_id = _text(f.get("rule_id"))
            name = L.rule_title(rule_id) or rule_id
            sev = L.SEVERITY_ZH.get(_text(f.get("severity")), "")
            status = _text(f.get("status"))
            out.append(((16, None, 0), [(f"（{_ordinal(i)}）{name}", ("楷体", 16, True)),
                                        (f"（{rule_id}，{sev}{'，存疑' if status == 'UNCERTAIN' else ''}）",
                                         (BODY_FONT, 16, False))]))
            out.append(_labelled("位置", L.place(f.get("table"), f.get("row_id"), f.get("col_id"),
                                                 f.get("section_id"), template, f.get("location"))))
            out.append(_labelled("问题", _text(f.get("message"))))
            basis = _text(f.get("basis"))
            if basis:
                out.append(_labelled("依据/要求", basis))
            out.append(_labelled("整改要求", remedy(rule_id, status)))
    out.append(_p(f"请你单位自收到本通知之日起{DEADLINE_ZH}内完成整改，更正后的年度报告应在政府信息公开专栏重新发布"
                  "并说明更正情况，同时将整改情况书面报送。对审核结论有异议的，请在上述期限内提出并附相关材料。"))
    out.append(_p(""))
    out.append(_p("政府信息公开工作主管部门（盖章）", align=WD_ALIGN_PARAGRAPH.RIGHT, indent=False))
    out.append(_p("年    月    日", align=WD_ALIGN_PARAGRAPH.RIGHT, indent=False))
    return out


def _ordinal(i: int) -> str:
    if i <= 10:
        return NUMERALS[i - 1]
    tens, ones = divmod(i, 10)
    return (NUMERALS[tens - 1] if tens > 1 else "") + "十" + (NUMERALS[ones - 1] if ones else "")


def remedy(rule_id: str, status: str) -> str:
    if status == "UNCERTAIN":
        return REMEDY_UNCERTAIN
    return REMEDY_BY_GROUP.get(L.rule_group(rule_id), REMEDY_DEFAULT)


# ------------------------------------------------------------------------------------------------ python-docx

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


def _format_paragraph(p, key: tuple) -> None:
    """Paragraph format *key* with python-docx: 28-point fixed line spacing (as in official documents)."""
    indent, align, space_after = key
    fmt = p.paragraph_format
    fmt.line_spacing = Pt(28)
    fmt.space_after = Pt(space_after)
    fmt.space_before = Pt(0)
    if indent:
        fmt.first_line_indent = Pt(indent * 2)
    if align is not None:
        p.alignment = align


def _format_run(run, key: tuple) -> None:
    """Latin and East Asian font, size and weight on the run itself (w:rFonts w:eastAsia), so Word and WPS never
    substitute a Latin font for the Chinese text."""
    east_asia, size, bold = key
    run.font.name = LATIN_FONT
    run.font.size = Pt(size)
    run.font.bold = bold
    rfonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    rfonts.set(qn("w:eastAsia"), east_asia)
    rfonts.set(qn("w:ascii"), LATIN_FONT)
    rfonts.set(qn("w:hAnsi"), LATIN_FONT)


def build_notice(agency: str, reports: list[dict], findings: list[dict]):
    """The notice as a python-docx Document (the reference for :func:`write_notice`, which writes the same XML
    directly)."""
    doc = Document()
    _setup(doc)
    doc.core_properties.title = notice_title(agency)
    for key, runs in notice_content(agency, reports, findings):
        p = doc.add_paragraph()
        _format_paragraph(p, key)
        for text, rkey in runs:
            _format_run(p.add_run(text), rkey)
    return doc


# ------------------------------------------------------------------------------------------------ direct XML

_NS_DECL = re.compile(r' xmlns:\w+="[^"]*"')


class _Package:
    """What every notice shares, built once per process with python-docx: a zip of the package's other parts (to
    which each notice appends its document.xml and core.xml), the document element's opening and section
    properties, the XML of each paragraph and run format."""

    DYNAMIC = ("word/document.xml", "docProps/core.xml")

    def __init__(self):
        doc = Document()
        _setup(doc)
        self.doc = doc
        body = doc.element.body
        for child in list(body):
            if child.tag != qn("w:sectPr"):
                body.remove(child)
        xml = etree.tostring(doc.element, encoding="unicode")
        i = xml.index("<w:body>") + len("<w:body>")
        j = xml.rindex("<w:sectPr")
        self.head = "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n" + xml[:i]
        self.tail = xml[j:]
        buf = io.BytesIO()
        doc.save(buf)
        base = io.BytesIO()
        with zipfile.ZipFile(buf) as src, zipfile.ZipFile(base, "w", zipfile.ZIP_DEFLATED) as dst:
            self.names = src.namelist()
            for info in src.infolist():
                if info.filename not in self.DYNAMIC:
                    dst.writestr(info, src.read(info))
        self.base = base.getvalue()   # the shared parts, compressed once
        self.core = next(p for p in doc.part.package.iter_parts() if p.partname == "/docProps/core.xml")
        self._ppr: dict[tuple, str] = {}
        self._rpr: dict[tuple, str] = {}

    def _fragment(self, el) -> str:
        return _NS_DECL.sub("", etree.tostring(el, encoding="unicode"))

    def ppr(self, key: tuple) -> str:
        x = self._ppr.get(key)
        if x is None:
            p = self.doc.add_paragraph()
            _format_paragraph(p, key)
            x = self._ppr[key] = self._fragment(p._p.pPr)
            p._p.getparent().remove(p._p)
        return x

    def rpr(self, key: tuple) -> str:
        x = self._rpr.get(key)
        if x is None:
            p = self.doc.add_paragraph()
            r = p.add_run()
            _format_run(r, key)
            x = self._rpr[key] = self._fragment(r._element.rPr)
            p._p.getparent().remove(p._p)
        return x

    def core_xml(self, title: str) -> bytes:
        self.doc.core_properties.title = title
        return self.core.blob


_PACKAGE: _Package | None = None
_RUN_SPLIT = re.compile(r"([\t\r\n])")


def _run_content(text: str) -> str:
    """As python-docx writes a run's text: a tab is <w:tab/>, CR/LF a <w:br/>, the rest <w:t> (space kept)."""
    out = []
    for part in _RUN_SPLIT.split(xml_text(text)):
        if part == "\t":
            out.append("<w:tab/>")
        elif part in ("\r", "\n"):
            out.append("<w:br/>")
        elif part:
            esc = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            out.append(f'<w:t xml:space="preserve">{esc}</w:t>' if len(part.strip()) < len(part)
                       else f"<w:t>{esc}</w:t>")
    return "".join(out)


def notice_xml(agency: str, reports: list[dict], findings: list[dict]) -> str:
    """word/document.xml of the notice (the XML python-docx writes for :func:`build_notice`)."""
    pkg = _package()
    parts = [pkg.head]
    for key, runs in notice_content(agency, reports, findings):
        parts.append(f"<w:p>{pkg.ppr(key)}")
        for text, rkey in runs:
            parts.append(f"<w:r>{pkg.rpr(rkey)}{_run_content(text)}</w:r>")
        parts.append("</w:p>")
    parts.append(pkg.tail)
    return "".join(parts)


def _package() -> _Package:
    global _PACKAGE
    if _PACKAGE is None:
        _PACKAGE = _Package()
    return _PACKAGE


def write_notice(path: Path, agency: str, reports: list[dict], findings: list[dict]) -> None:
    """Write the notice DOCX: the shared parts as compressed once, document.xml and core.xml appended (zipfile)."""
    pkg = _package()
    document = notice_xml(agency, reports, findings).encode("utf-8")
    core = pkg.core_xml(notice_title(xml_text(agency)))
    with open(path, "wb") as fh:
        fh.write(pkg.base)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", document)
        z.writestr("docProps/core.xml", core)


def _notice_key(name: str, reps: list[dict], fa: list[dict]) -> tuple:
    """Exactly the data a notice shows (the reuse cache's key is a digest of it): the agency, its reports with
    problems, its errors/warnings and the titles of their rules (from the rule catalogue)."""
    titles = {str(f.get("rule_id")): L.rule_title(_text(f.get("rule_id"))) for f in fa}
    return (name, reps, fa, sorted(titles.items()))


def _notice_job(item, store) -> bool:
    """Write one notice (or copy it from the reuse cache); True when it was reused."""
    path, name, reps, fa = item
    key = store.key(_notice_key(name, reps, fa)) if store is not None else None
    if key is not None and store.fetch(key, Path(path)):
        return True
    write_notice(Path(path), name, reps, fa)
    if key is not None:
        store.put(key, Path(path))
    return False


def write_notices(notices_dir: Path, reports: pd.DataFrame, findings: pd.DataFrame, cache=None) -> dict[str, Path]:
    """One DOCX per agency that has errors or warnings; returns agency -> written path (in agency order).
    *cache* (a :class:`reuse.Cache`, optional): notices whose data did not change are copied from it."""
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
    store = cache.kind("notices", len(jobs), ".docx") if cache is not None else None
    reused = run_parallel(_notice_job, jobs, (store,))
    if store is not None:
        store.done(sum(reused), len(reused))
    return written
