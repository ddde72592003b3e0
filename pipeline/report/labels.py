"""Chinese labels and table layouts shared by the workbook, the notices and the summary page.

Everything here is derived from data: the templates (``rules/templates/*.yaml`` via ``pipeline.templates``) give
the row/column labels and the printed order of tables 二/三/四; the rule catalogue (``rules/catalogue.yaml`` and the
local rule sets, via the validate stage's rulebook loader) gives the rule titles and bases.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pipeline import templates

SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
REPORT_STATUS_ZH = {"ok": "正常", "partial": "部分识别", "failed": "读取失败"}
FINDING_STATUS_ZH = {"FAIL": "不通过", "UNCERTAIN": "存疑"}
TABLE_ZH = {"t2": "表二", "t3": "表三", "t4": "表四"}
TABLE_TITLE_ZH = {"t2": "主动公开政府信息情况", "t3": "收到和处理政府信息公开申请情况",
                  "t4": "政府信息公开行政复议、行政诉讼情况"}
TEMPLATE_ZH = {"gb2021": "2021年版格式", "gb2019": "2019年试行格式", "legacy2008": "2019年以前旧版格式",
               "mixed": "新旧格式混用", "unknown": "未识别"}
SECTION_ZH = {
    "sec.preamble": "正文开头（标题、依据、统计期限）",
    "sec.overview": "一、总体情况",
    "sec.proactive": "二、主动公开政府信息情况",
    "sec.applications": "三、收到和处理政府信息公开申请情况",
    "sec.review_litigation": "四、政府信息公开行政复议、行政诉讼情况",
    "sec.problems": "五、存在的主要问题及改进情况",
    "sec.other": "六、其他需要报告的事项",
}
CELL_STATE_ZH = {"NUMBER": "数字", "BLANK": "空白", "DASH": "横线/无", "UNPARSABLE": "无法识别", "MISSING": "未找到"}

# Rule groups (heatmap columns, notices): the part of the rule id after "R-", digits of SEC dropped.
RULE_GROUPS = (
    ("TPL", "格式版本"), ("STR", "结构完整"), ("META", "标题与时限"), ("T2", "表二主动公开"),
    ("T3", "表三依申请公开"), ("T4", "表四复议诉讼"), ("SEC", "正文内容"), ("X", "跨报告比对"), ("EXT", "识别质量"),
)
RULE_GROUP_ZH = dict(RULE_GROUPS)
_GROUP_RE = re.compile(r"^R-([A-Z]+)(\d*)-")

# K-indicators (rules.md §6.10): header, number format
INDICATORS = (
    ("K-01", "收到申请数（K-01）", "0"),
    ("K-02", "实质公开率（K-02）", "0.0%"),
    ("K-03", "不掌握率（K-03）", "0.0%"),
    ("K-04", "积压率（K-04）", "0.0%"),
    ("K-05", "每百件申请复议诉讼数（K-05）", "0.00"),
    ("K-06", "纠错率（K-06）", "0.0%"),
    ("K-07", "质量分（K-07）", "0"),
)


def rule_group(rule_id) -> str:
    """'R-T3-02' -> 'T3', 'R-SEC5-02' -> 'SEC', unknown -> '其他'."""
    m = _GROUP_RE.match(str(rule_id or ""))
    if not m:
        return "其他"
    g = m.group(1) + m.group(2) if m.group(1) == "T" else m.group(1)
    return g if g in RULE_GROUP_ZH else "其他"


@functools.cache
def rulebook():
    """The validate stage's rule catalogue (incl. local rule sets); None when it cannot be loaded."""
    try:
        from pipeline.validate import rulebook as rb

        return rb.load()
    except Exception:  # the outputs must not fail because of a catalogue problem
        return None


def rule_title(rule_id: str) -> str:
    book = rulebook()
    rule = book.rules.get(rule_id) if book is not None else None
    return rule.title_zh if rule is not None else ""


# ------------------------------------------------------------------------------------------------ table layouts

@dataclass(frozen=True)
class LayoutRow:
    """One printed row of a redrawn table.

    kind: title | caption | header | data | group
    cells: texts (header/caption/title) or keys (table, row_id, col_id) of value cells, one per value column;
    label: the row label printed in the first column.
    """
    kind: str
    label: str
    table: str
    row_id: str = ""
    cells: tuple = ()
    merge: tuple = ()   # (first col, last col) pairs (0-based within the value columns) for header rows
    keys: tuple = ()    # header rows naming the columns: (table, '', col_id) per value column (column findings)


def _label_template(template_id) -> str:
    reg = templates.registry()
    return template_id if template_id in reg else "gb2021"


@functools.cache
def layout(template_id: str) -> tuple[LayoutRow, ...]:
    """The rows of tables 二/三/四 in the printed order of *template_id* (unknown templates use gb2021)."""
    t = templates.get(_label_template(template_id))
    rows: list[LayoutRow] = []
    # 表二
    rows.append(LayoutRow("title", f"表二 {TABLE_TITLE_ZH['t2']}", "t2"))
    for b in t.t2_blocks:
        unit = f"（单位：{b.unit}）" if b.unit else ""
        rows.append(LayoutRow("caption", b.caption + unit, "t2", b.id))
        rows.append(LayoutRow("header", "信息内容", "t2", b.id, tuple(c.label for c in b.cols),
                              keys=tuple(("t2", "", c.id) for c in b.cols)))
        for r in b.rows:
            rows.append(LayoutRow("data", r.label, "t2", r.id, tuple(("t2", r.id, c.id) for c in b.cols)))
    # 表三
    rows.append(LayoutRow("title", f"表三 {TABLE_TITLE_ZH['t3']}", "t3"))
    n = len(t.t3_cols)
    rows.append(LayoutRow("header", "本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和", "t3", "",
                          ("申请人情况",) + ("",) * (n - 1), ((0, n - 1),)))
    rows.append(LayoutRow("header", "", "t3", "", ("自然人",) + ("法人或其他组织",) + ("",) * (n - 4) + ("总计",),
                          ((1, n - 2),)))
    rows.append(LayoutRow("header", "", "t3", "", tuple(c.label for c in t.t3_cols),
                          keys=tuple(("t3", "", c.id) for c in t.t3_cols)))
    groups = {g.id: g for g in t.t3_groups}
    seen_groups: set[str] = set()
    for r in t.t3_rows:
        if r.id == "t3.granted" and "t3.results" in groups:
            rows.append(LayoutRow("group", groups["t3.results"].label, "t3", "t3.results"))
        if r.group and r.group not in seen_groups and r.group in groups:
            seen_groups.add(r.group)
            g = groups[r.group]
            # a group row holds values when a report prints the group as one row (e.g. （六）其他处理)
            rows.append(LayoutRow("group", g.label, "t3", g.id, tuple(("t3", g.id, c.id) for c in t.t3_cols)))
        rows.append(LayoutRow("data", r.label, "t3", r.id, tuple(("t3", r.id, c.id) for c in t.t3_cols)))
    # 表四: one row of 3 x 5 values under a two-level header, as printed
    rows.append(LayoutRow("title", f"表四 {TABLE_TITLE_ZH['t4']}", "t4"))
    k = len(t.t4_cols)
    top, mid, merge_top, merge_mid = [], [], [], []
    parents = [(g.id, g.label) for g in t.t4_groups]
    t4_parent = {g["id"]: g.get("parent") for g in t.raw["t4"]["groups"]}
    i = 0
    while i < len(parents):
        gid, glabel = parents[i]
        parent = t4_parent.get(gid)
        if parent:
            j = i
            while j < len(parents) and t4_parent.get(parents[j][0]) == parent:
                j += 1
            top += [parent] + [""] * ((j - i) * k - 1)
            merge_top.append((i * k, j * k - 1))
            for m in range(i, j):
                mid += [parents[m][1]] + [""] * (k - 1)
                merge_mid.append((m * k, m * k + k - 1))
            i = j
        else:
            top += [glabel] + [""] * (k - 1)
            mid += [""] * k
            merge_top.append((i * k, i * k + k - 1))
            i += 1
    rows.append(LayoutRow("header", "", "t4", "", tuple(top), tuple(merge_top)))
    rows.append(LayoutRow("header", "", "t4", "", tuple(mid), tuple(merge_mid)))
    rows.append(LayoutRow("header", "", "t4", "", tuple(c.label for _ in t.t4_groups for c in t.t4_cols),
                          keys=tuple(("t4", "", c.id) for _ in t.t4_groups for c in t.t4_cols)))
    rows.append(LayoutRow("data", "案件数", "t4", "",
                          tuple(("t4", g.id, c.id) for g in t.t4_groups for c in t.t4_cols)))
    return tuple(rows)


@functools.cache
def _label_maps(template_id: str) -> tuple[dict, dict, dict]:
    """(row labels by (table,row_id), column labels by (table,col_id), t2 block caption by row_id)."""
    t = templates.get(_label_template(template_id))
    row_l, col_l, block_l = {}, {}, {}
    for b in t.t2_blocks:
        for r in b.rows:
            row_l[("t2", r.id)] = r.label
            block_l[r.id] = b.caption
        for c in b.cols:
            col_l.setdefault(("t2", c.id), c.label)
    for g in t.t3_groups:
        row_l[("t3", g.id)] = g.label
    for r in t.t3_rows:
        row_l[("t3", r.id)] = r.label
    for c in t.t3_cols:
        col_l[("t3", c.id)] = c.label
    t4_parent = {g["id"]: g.get("parent") for g in t.raw["t4"]["groups"]}
    for g in t.t4_groups:
        p = t4_parent.get(g.id)
        row_l[("t4", g.id)] = f"{p}—{g.label}" if p else g.label
    for c in t.t4_cols:
        col_l[("t4", c.id)] = c.label
    return row_l, col_l, block_l


def place(table, row_id, col_id, section_id="", template_id="gb2021", location="") -> str:
    """Where a finding is, in words: 表三「（七）总计」行「自然人」列 / 五、存在的主要问题及改进情况 / 全文."""
    table, row_id, col_id = (str(x or "") for x in (table, row_id, col_id))
    row_l, col_l, block_l = _label_maps(_label_template(template_id))
    parts = []
    if table:
        name = TABLE_ZH.get(table, table)
        if table == "t2" and row_id in block_l:
            name += block_l[row_id]
        parts.append(name)
        if row_id:
            parts.append(f"「{row_l.get((table, row_id), row_id)}」" + ("" if table == "t4" else "行"))
        if col_id:
            parts.append(f"「{col_l.get((table, col_id), col_id)}」" + ("" if table == "t4" else "列"))
    if section_id:
        parts.append(("；" if parts else "") + SECTION_ZH.get(str(section_id), str(section_id)))
    text = "".join(parts)
    if not text:
        text = "报告整体"
    if location and str(location).strip():
        text += f"（{str(location).strip()}）"
    return text
