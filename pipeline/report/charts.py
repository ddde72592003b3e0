"""Charts for leadership (PNG, 150 dpi, Chinese text in Noto Sans CJK SC).

Uses the object-oriented API with the Agg canvas (no pyplot, no global backend switch, no global rcParams
change: the CJK settings are applied with ``rc_context``). Every chart copes with empty input (an explicit
"无问题"/"无数据" chart) and with hundreds of agencies (top-N).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import fonts
from .csvout import _is_missing

DPI = 150
TOP_AGENCIES = 20
TOP_RULES = 30
QUALITY_ALL_UP_TO = 30   # rank every report up to this many, else show the highest and lowest QUALITY_EACH
QUALITY_EACH = 15
MAX_LABEL = 24           # characters of an agency name shown on an axis

SEVERITIES = ("error", "warning", "info")
SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
SEVERITY_COLOR = {"error": "#d9534f", "warning": "#f0ad4e", "info": "#5b9bd5"}
STATUSES = ("ok", "partial", "failed")
STATUS_ZH = {"ok": "正常", "partial": "部分识别", "failed": "读取失败"}
STATUS_COLOR = {"ok": "#5cb85c", "partial": "#f0ad4e", "failed": "#d9534f"}
TEMPLATE_ZH = {"gb2021": "2021版格式", "gb2019": "2019版格式", "legacy2008": "2008版格式",
               "mixed": "混用格式", "unknown": "未识别"}
TEMPLATE_ORDER = ("gb2021", "gb2019", "legacy2008", "mixed", "unknown")
NO_AGENCY = "（未识别机关）"

CHART_FILES = ("findings_by_agency.png", "rule_frequency.png", "templates_status.png", "quality_ranking.png")


def _name(v, empty: str = NO_AGENCY) -> str:
    """A grouping key from data: stripped text, *empty* for missing/blank."""
    return empty if _is_missing(v) or str(v).strip() == "" else str(v).strip()


def _label(v, limit: int = MAX_LABEL, empty: str = NO_AGENCY) -> str:
    """Text from data for an axis: never mathtext (escape $), shortened to *limit* characters."""
    s = _name(v, empty)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _empty_chart(title: str, message: str) -> Figure:
    fig = _new_figure(8, 4.5)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=14)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=20, color="#3c763d", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def _severity_table(findings: pd.DataFrame, by: pd.Series) -> pd.DataFrame:
    """Counts: index = group value, columns = severities (error, warning, info), plus 'total'."""
    sev = findings["severity"].astype(object).where(findings["severity"].isin(SEVERITIES), "info")
    t = pd.crosstab(by, sev)
    for s in SEVERITIES:
        if s not in t.columns:
            t[s] = 0
    t = t[list(SEVERITIES)].astype(int)
    t["total"] = t.sum(axis=1)
    return t


def _stacked_barh(ax, table: pd.DataFrame, labels: list[str]) -> None:
    y = list(range(len(table)))
    left = [0] * len(table)
    for s in SEVERITIES:
        vals = table[s].tolist()
        ax.barh(y, vals, left=left, color=SEVERITY_COLOR[s], label=SEVERITY_ZH[s], height=0.7)
        left = [a + b for a, b in zip(left, vals)]
    for yi, total in zip(y, table["total"].tolist()):
        ax.text(total, yi, f" {total}", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()  # largest on top
    ax.set_xlim(0, max(1, int(table["total"].max())) * 1.1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(title="严重程度", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def findings_by_agency(findings: pd.DataFrame) -> Figure:
    title = "各机关发现问题数（按严重程度）"
    if findings.empty:
        return _empty_chart(title, "无问题：本批次未发现问题")
    agency = findings["agency"].astype(object).map(_name)
    t = _severity_table(findings, agency)
    n_agencies = len(t)
    # deterministic top-N: most findings, then most errors, then name
    t = t.reset_index(names="agency").sort_values(
        ["total", "error", "warning", "agency"], ascending=[False, False, False, True], kind="stable")
    t = t.head(TOP_AGENCIES).reset_index(drop=True)
    labels = [_label(a) for a in t["agency"]]
    fig = _new_figure(10, 1.6 + 0.38 * len(t))
    ax = fig.add_subplot()
    _stacked_barh(ax, t, labels)
    if n_agencies > TOP_AGENCIES:
        title += f"（共{n_agencies}个机关，显示问题最多的前{TOP_AGENCIES}个）"
    ax.set_title(title, fontsize=13)
    ax.set_xlabel("问题数（条）")
    ax.set_ylabel("机关")
    return fig


def rule_frequency(findings: pd.DataFrame) -> Figure:
    title = "各规则发现问题数"
    if findings.empty:
        return _empty_chart(title, "无问题：没有规则被触发")
    rule = findings["rule_id"].astype(object).map(lambda v: _name(v, empty="（无规则编号）"))
    t = _severity_table(findings, rule)
    n_rules = len(t)
    t = t.reset_index(names="rule").sort_values(["total", "rule"], ascending=[False, True], kind="stable")
    t = t.head(TOP_RULES).reset_index(drop=True)
    fig = _new_figure(10, 1.6 + 0.32 * len(t))
    ax = fig.add_subplot()
    _stacked_barh(ax, t, [_label(r, limit=32) for r in t["rule"]])
    if n_rules > TOP_RULES:
        title += f"（共{n_rules}条规则，显示前{TOP_RULES}条）"
    ax.set_title(title, fontsize=13)
    ax.set_xlabel("问题数（条）")
    ax.set_ylabel("规则编号")
    return fig


def templates_status(reports: pd.DataFrame) -> Figure:
    title = "报告格式与识别状态"
    if reports.empty:
        return _empty_chart(title, "无数据：本批次没有报告")
    tpl = reports["template"].astype(object).map(lambda v: "unknown" if _is_missing(v) or v == "" else str(v))
    st = reports["status"].astype(object).map(lambda v: "failed" if _is_missing(v) or v == "" else str(v))
    t = pd.crosstab(tpl, st)
    templates = [x for x in TEMPLATE_ORDER if x in t.index] + sorted(x for x in t.index if x not in TEMPLATE_ORDER)
    statuses = [x for x in STATUSES if x in t.columns] + sorted(x for x in t.columns if x not in STATUSES)
    t = t.reindex(index=templates, columns=statuses, fill_value=0)
    fig = _new_figure(9, 5)
    ax = fig.add_subplot()
    x = list(range(len(templates)))
    bottom = [0] * len(templates)
    for s in statuses:
        vals = t[s].astype(int).tolist()
        ax.bar(x, vals, bottom=bottom, color=STATUS_COLOR.get(s, "#999999"), label=_label(STATUS_ZH.get(s, s)),
               width=0.6)
        bottom = [a + b for a, b in zip(bottom, vals)]
    for xi, total in zip(x, bottom):
        ax.text(xi, total, str(total), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, [_label(TEMPLATE_ZH.get(v, v)) for v in templates])
    ax.set_ylim(0, max(1, max(bottom)) * 1.12)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(f"{title}（共{len(reports)}份报告）", fontsize=13)
    ax.set_xlabel("报告格式（模板）")
    ax.set_ylabel("报告数（份）")
    ax.legend(title="识别状态", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def quality_ranking(indicators: pd.DataFrame) -> Figure:
    title = "报告质量分排名（K-07，满分100）"
    if "K-07" not in indicators.columns:
        return _empty_chart(title, "无数据：未计算质量分")
    q = indicators[["report_id", "agency", "year", "K-07"]].copy()
    q["score"] = pd.to_numeric(q["K-07"], errors="coerce")
    q = q[q["score"].notna()]
    if q.empty:
        return _empty_chart(title, "无数据：未计算质量分")

    def name(r) -> str:
        year = "" if _is_missing(r["year"]) else f" {int(r['year'])}年"
        return _label(r["agency"], limit=MAX_LABEL - 6) + year

    q["label"] = [name(r) for r in q.to_dict("records")]
    q["rid"] = q["report_id"].astype(object).map(lambda v: "" if _is_missing(v) else str(v))
    q = q.sort_values(["score", "label", "rid"], ascending=[False, True, True], kind="stable")
    n = len(q)
    if n <= QUALITY_ALL_UP_TO:
        parts = [("", q)]
    else:
        parts = [(f"最高的{QUALITY_EACH}份", q.head(QUALITY_EACH)), (f"最低的{QUALITY_EACH}份", q.tail(QUALITY_EACH))]
    rows = sum(len(p) for _, p in parts)
    fig = _new_figure(10, 1.8 + 0.36 * rows + (0.6 if len(parts) > 1 else 0))
    axes = fig.subplots(len(parts), 1, squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": [len(p) for _, p in parts]})[:, 0]
    cmap = matplotlib.colormaps["RdYlGn"]
    for ax, (sub, part) in zip(axes, parts):
        scores = part["score"].tolist()
        y = list(range(len(part)))
        ax.barh(y, scores, color=[cmap(max(0.0, min(1.0, s / 100))) for s in scores], height=0.7)
        for yi, s in zip(y, scores):
            ax.text(s, yi, f" {s:.0f}" if float(s).is_integer() else f" {s:.1f}", va="center", fontsize=8)
        ax.set_yticks(y, part["label"].tolist())
        ax.invert_yaxis()
        ax.set_xlim(0, 108)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        if sub:
            ax.set_title(sub, fontsize=11, loc="left")
    if n > QUALITY_ALL_UP_TO:
        title += f"（共{n}份报告）"
    fig.suptitle(title, fontsize=13)
    axes[-1].set_xlabel("质量分（100减去加权问题数：错误10分，警告3分）")
    return fig


def build_figures(reports: pd.DataFrame, findings: pd.DataFrame, indicators: pd.DataFrame) -> dict[str, Figure]:
    """All charts as Figures (file name -> Figure), built with the CJK rcParams."""
    with matplotlib.rc_context(fonts.cjk_rc_params()):
        return {
            "findings_by_agency.png": findings_by_agency(findings),
            "rule_frequency.png": rule_frequency(findings),
            "templates_status.png": templates_status(reports),
            "quality_ranking.png": quality_ranking(indicators),
        }


def write_charts(charts_dir: Path, reports: pd.DataFrame, findings: pd.DataFrame,
                 indicators: pd.DataFrame) -> list[Path]:
    """Render every chart into *charts_dir* (created if needed); returns the written paths."""
    charts_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(fonts.cjk_rc_params()):
        figures = build_figures(reports, findings, indicators)
        for name, fig in figures.items():
            path = charts_dir / name
            fig.savefig(path, dpi=DPI, format="png", facecolor="white")
            written.append(path)
    return written
