"""Charts for leadership: PNG (300 dpi, for print) and SVG (text as paths, renders anywhere), Chinese text in
Noto Sans CJK SC (PyPI noto-cjk-sans-otc).

Uses the object-oriented API with the Agg canvas (no pyplot, no global backend switch, no global rcParams
change: the CJK settings are applied with ``rc_context``). Every chart copes with empty input (an explicit
"无问题"/"无数据" chart) and with hundreds of agencies (top N plus the rest aggregated into one row).

Charts (file stem -> what): see :data:`CHARTS`; ``trends`` is drawn only when the batch spans several years.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from . import fonts
from . import labels as L
from .csvout import _is_missing

DPI = 300                # PNG resolution (print quality)
SCREEN_DPI = 100         # figure dpi while laying out (sizes are in inches, so this only affects layout rounding)
TOP_AGENCIES = 20
TOP_HEATMAP = 30
TOP_OUTCOME = 25
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

# t3 办理结果 categories of the outcome mix (row id or row id prefix -> category), col.total
OUTCOMES = (("granted", "予以公开", "#2e7d32"), ("partial", "部分公开", "#8bc34a"), ("denied", "不予公开", "#e53935"),
            ("unable", "无法提供", "#fb8c00"), ("not_processed", "不予处理", "#8e24aa"),
            ("other", "其他处理", "#9e9e9e"))

# stem -> title (the charts always written; CONDITIONAL_CHARTS only when the data allow)
CHARTS = {
    "findings_by_agency": "各机关发现问题数（按严重程度）",
    "agency_rule_heatmap": "各机关问题分布（按规则类别）",
    "rule_frequency": "各规则发现问题数",
    "quality_ranking": "报告质量分排名",
    "outcome_mix": "依申请公开办理结果构成",
    "templates_status": "报告格式与识别状态",
}
CONDITIONAL_CHARTS = {"trends": "历年趋势：收到申请、结转积压、复议诉讼纠错率"}
FORMATS = ("png", "svg")
CHART_FILES = tuple(f"{stem}.{ext}" for stem in CHARTS for ext in FORMATS)
CONDITIONAL_FILES = tuple(f"{stem}.{ext}" for stem in CONDITIONAL_CHARTS for ext in FORMATS)


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
    fig = Figure(figsize=(width, height), dpi=SCREEN_DPI, layout="constrained")
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


def _severity_barh_figure(table: pd.DataFrame, labels: list[str], title: str, ylabel: str, width: float,
                          row_height: float) -> Figure:
    """The stacked findings-per-severity bars of *table* (one row a bar), titled, its height grown with the rows."""
    fig = _new_figure(width, 1.6 + row_height * len(table))
    ax = fig.add_subplot()
    _stacked_barh(ax, table, labels)
    ax.set_title(title, fontsize=13)
    ax.set_xlabel("问题数（条）")
    ax.set_ylabel(ylabel)
    return fig


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
    if n_agencies > TOP_AGENCIES:
        title += f"（共{n_agencies}个机关，显示问题最多的前{TOP_AGENCIES}个）"
    return _severity_barh_figure(t, [_label(a) for a in t["agency"]], title, "机关", width=10, row_height=0.38)


def rule_frequency(findings: pd.DataFrame) -> Figure:
    title = "各规则发现问题数"
    if findings.empty:
        return _empty_chart(title, "无问题：没有规则被触发")
    rule = findings["rule_id"].astype(object).map(lambda v: _name(v, empty="（无规则编号）"))
    t = _severity_table(findings, rule)
    n_rules = len(t)
    t = t.reset_index(names="rule").sort_values(["total", "rule"], ascending=[False, True], kind="stable")
    t = t.head(TOP_RULES).reset_index(drop=True)
    if n_rules > TOP_RULES:
        title += f"（共{n_rules}条规则，显示前{TOP_RULES}条）"
    return _severity_barh_figure(t, [_rule_label(r) for r in t["rule"]], title, "规则", width=11, row_height=0.32)


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


def _rule_label(rule_id) -> str:
    rid = _name(rule_id, empty="（无规则编号）")
    title = L.rule_title(rid)
    if title:
        title = title if len(title) <= 22 else title[:21] + "…"
        return _label(f"{rid} {title}", limit=40)
    return _label(rid, limit=40)


def _top_with_rest(table: pd.DataFrame, n: int, key: str, rest_label: str) -> tuple[pd.DataFrame, int]:
    """The *n* rows of *table* (index = names) with the largest *key* (ties by name), the others summed into one
    row named *rest_label*; returns (table, number of rows aggregated)."""
    t = table.copy()
    t["__name"] = t.index.astype(str)
    t = t.sort_values([key, "__name"], ascending=[False, True], kind="stable").drop(columns="__name")
    if len(t) <= n:
        return t, 0
    head, rest = t.head(n), t.iloc[n:]
    agg = rest.sum(numeric_only=True).to_frame().T
    agg.index = [rest_label.format(n=len(rest))]
    return pd.concat([head, agg]), len(rest)


def agency_rule_heatmap(findings: pd.DataFrame) -> Figure:
    title = CHARTS["agency_rule_heatmap"]
    if findings.empty:
        return _empty_chart(title, "无问题：本批次未发现问题")
    f = findings[findings["severity"].isin(("error", "warning"))]
    if f.empty:
        return _empty_chart(title, "无错误或警告：仅有提示信息")
    agency = f["agency"].astype(object).map(_name)
    group = f["rule_id"].astype(object).map(L.rule_group)
    t = pd.crosstab(agency, group)
    order = [g for g, _ in L.RULE_GROUPS if g in t.columns] + sorted(c for c in t.columns
                                                                       if c not in L.RULE_GROUP_ZH)
    t = t[order]
    t["__total"] = t.sum(axis=1)
    n_agencies = len(t)
    t, n_rest = _top_with_rest(t, TOP_HEATMAP, "__total", "其余{n}个机关合计")
    t = t.drop(columns="__total")
    values = t.to_numpy(dtype=float)
    fig = _new_figure(max(8.0, 3.2 + 0.95 * len(order)), 1.8 + 0.34 * len(t))
    ax = fig.add_subplot()
    shown = values.copy()
    if n_rest:
        shown[-1, :] = np.nan   # the aggregate row is not comparable: printed, not coloured
    cmap = matplotlib.colormaps["OrRd"].with_extremes(bad="#eeeeee")
    vmax = max(1.0, float(np.nanmax(shown)) if np.isfinite(shown).any() else 1.0)
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=0, vmax=vmax, aspect="auto",
                   interpolation="nearest")
    for (i, j), v in np.ndenumerate(values):
        if v:
            dark = np.isfinite(shown[i, j]) and shown[i, j] > 0.6 * vmax
            ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(order)), [L.RULE_GROUP_ZH.get(g, g) for g in order], rotation=30, ha="right")
    ax.set_yticks(range(len(t)), [_label(a) for a in t.index])
    ax.tick_params(length=0)
    cb = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.02)
    cb.set_label("错误和警告（条）")
    if n_agencies > TOP_HEATMAP:
        title += f"（{n_agencies}个机关有错误或警告，显示最多的前{TOP_HEATMAP}个）"
    ax.set_title(title, fontsize=13)
    ax.set_xlabel("规则类别")
    return fig


def _outcome_table(cells: pd.DataFrame | None, reports: pd.DataFrame) -> pd.DataFrame:
    """Per agency (its latest report year): counts of each outcome category (t3 col.total) — index agency."""
    cols = [c for c, _, _ in OUTCOMES]
    if cells is None or cells.empty:
        return pd.DataFrame(columns=cols)
    c = cells[(cells["table"] == "t3") & (cells["col_id"] == "col.total") & (cells["state"] == "NUMBER")]
    row = c["row_id"].astype(str)
    cat = pd.Series(pd.NA, index=c.index, dtype=object)
    cat[row == "t3.granted"] = "granted"
    cat[row == "t3.partially_granted"] = "partial"
    cat[row.str.startswith("t3.denied.")] = "denied"
    cat[row.str.startswith("t3.unable.")] = "unable"
    cat[row.str.startswith("t3.not_processed.")] = "not_processed"
    cat[(row == "t3.other") | row.str.startswith("t3.other.")] = "other"
    c = c.assign(cat=cat)[cat.notna()]
    if c.empty:
        return pd.DataFrame(columns=cols)
    rep = reports[["report_id", "agency", "year"]].copy()
    rep["agency"] = rep["agency"].astype(object).map(_name)
    rep["y"] = pd.to_numeric(rep["year"], errors="coerce").fillna(-1)
    counts = c.pivot_table(index="report_id", columns="cat", values="value", aggfunc="sum", fill_value=0)
    counts = counts.reindex(columns=cols, fill_value=0)
    counts = counts[counts.sum(axis=1) > 0]
    rep = rep[rep["report_id"].isin(counts.index)]
    latest = rep.sort_values(["agency", "y", "report_id"], kind="stable").groupby("agency").tail(1)
    out = counts.loc[latest["report_id"]]
    out.index = latest["agency"].tolist()
    return out.groupby(level=0).sum()


def outcome_mix(cells: pd.DataFrame | None, reports: pd.DataFrame) -> Figure:
    title = CHARTS["outcome_mix"]
    t = _outcome_table(cells, reports)
    if t.empty:
        return _empty_chart(title, "无数据：没有填报办理结果的报告")
    cols = [c for c, _, _ in OUTCOMES]
    t = t.astype(float)
    t["__total"] = t[cols].sum(axis=1)
    n_agencies = len(t)
    total_all = t[cols].sum().to_frame().T
    total_all.index = ["全部机关合计"]
    t, n_rest = _top_with_rest(t, TOP_OUTCOME, "__total", "其余{n}个机关合计")
    t = pd.concat([t.drop(columns="__total"), total_all])
    share = t[cols].div(t[cols].sum(axis=1), axis=0)
    fig = _new_figure(11, 2.0 + 0.36 * len(t))
    ax = fig.add_subplot()
    y = np.arange(len(t))
    left = np.zeros(len(t))
    for key, zh, color in OUTCOMES:
        vals = share[key].to_numpy()
        ax.barh(y, vals, left=left, color=color, label=zh, height=0.72)
        for yi, (l, v) in enumerate(zip(left, vals)):
            if v >= 0.07:
                ax.text(l + v / 2, yi, f"{v:.0%}", ha="center", va="center", fontsize=7, color="white")
        left += vals
    k02 = (share["granted"] + share["partial"]).to_numpy()
    totals = t[cols].sum(axis=1).to_numpy()
    for yi, (k, n) in enumerate(zip(k02, totals)):
        ax.text(1.01, yi, f"实质公开率 {k:.0%}（{int(n)}件）", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_yticks(y, [_label(a) for a in t.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("占办理结果总数的比例（表三“总计”列，各机关取最近年度）")
    if n_agencies > TOP_OUTCOME:
        title += f"（共{n_agencies}个机关，显示办理量最大的前{TOP_OUTCOME}个）"
    ax.set_title(title + "（K-02 实质公开率 = 予以公开 + 部分公开）", fontsize=12)
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, title="办理结果", loc="outside lower center", ncol=len(OUTCOMES), frameon=False)
    return fig


def _years(reports: pd.DataFrame) -> list[int]:
    ok = reports[reports["status"].astype(object) != "failed"] if "status" in reports.columns else reports
    years = pd.to_numeric(ok["year"], errors="coerce").dropna().astype(int)
    return sorted(set(years.tolist()))


def trends(reports: pd.DataFrame, indicators: pd.DataFrame, cells: pd.DataFrame | None) -> Figure | None:
    """Applications received, backlog (carried forward) and correction rate per year; None for a single year."""
    years = _years(reports)
    if len(years) < 2:
        return None
    ind = indicators.copy()
    ind["y"] = pd.to_numeric(ind["year"], errors="coerce")
    k01 = pd.to_numeric(ind["K-01"], errors="coerce")
    received = k01.groupby(ind["y"]).sum(min_count=1).reindex(years)
    n_reports = k01.notna().groupby(ind["y"]).sum().reindex(years).fillna(0).astype(int)
    backlog = pd.Series(np.nan, index=years)
    backlog_rate = pd.Series(np.nan, index=years)
    correction = pd.Series(np.nan, index=years)
    if cells is not None and not cells.empty:
        y_of = dict(zip(reports["report_id"].astype(object), pd.to_numeric(reports["year"], errors="coerce")))
        c = cells[cells["state"] == "NUMBER"]
        c = c.assign(y=c["report_id"].astype(object).map(y_of))
        t3 = c[(c["table"] == "t3") & (c["col_id"] == "col.total")]
        p3 = t3.pivot_table(index="y", columns="row_id", values="value", aggfunc="sum")
        p3 = p3.reindex(index=years, columns=["t3.carried_forward", "t3.new_received", "t3.carried_over"])
        backlog = p3["t3.carried_forward"]
        den = p3["t3.new_received"].fillna(0) + p3["t3.carried_over"].fillna(0)
        backlog_rate = backlog / den.where(den > 0)
        t4 = c[c["table"] == "t4"]
        p4 = t4.pivot_table(index="y", columns="col_id", values="value", aggfunc="sum")
        p4 = p4.reindex(index=years, columns=["col.upheld", "col.corrected", "col.other_result"]).fillna(0)
        den4 = p4.sum(axis=1)
        correction = p4["col.corrected"] / den4.where(den4 >= 5)
    fig = _new_figure(12, 4.6)
    axes = fig.subplots(1, 3)
    x = np.arange(len(years))
    xt = [f"{y}年" for y in years]

    ax = axes[0]
    ax.bar(x, received.fillna(0).to_numpy(), color="#5b9bd5", width=0.6)
    for xi, v, n in zip(x, received.to_numpy(), n_reports.to_numpy()):
        ax.annotate("无数据" if np.isnan(v) else f"{int(v)}\n（{n}份报告）", (xi, 0 if np.isnan(v) else v),
                ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.set_title("收到政府信息公开申请（件）", fontsize=11)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1.0, float(np.nanmax(received.to_numpy())) if received.notna().any() else 1.0) * 1.25)

    ax = axes[1]
    ax.bar(x, backlog.fillna(0).to_numpy(), color="#f0ad4e", width=0.6)
    for xi, v, r in zip(x, backlog.to_numpy(), backlog_rate.to_numpy()):
        label = "无数据" if np.isnan(v) else f"{int(v)}" + ("" if np.isnan(r) else f"\n（积压率{r:.1%}）")
        ax.annotate(label, (xi, 0 if np.isnan(v) else v), ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.set_title("结转下年度继续办理（件）", fontsize=11)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1.0, float(np.nanmax(backlog.to_numpy())) if backlog.notna().any() else 1.0) * 1.3)

    ax = axes[2]
    vals = correction.to_numpy(dtype=float)
    ax.plot(x, vals, marker="o", color="#d9534f")
    for xi, v in zip(x, vals):
        ax.annotate("案件不足5件" if np.isnan(v) else f"{v:.1%}", (xi, 0 if np.isnan(v) else v), ha="center",
                va="bottom", fontsize=8, xytext=(0, 4), textcoords="offset points")
    ax.set_title("行政复议、诉讼纠错率（K-06）", fontsize=11)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, max(0.1, float(np.nanmax(vals)) * 1.3 if np.isfinite(vals).any() else 0.1))
    for ax in axes:
        ax.set_xticks(x, xt)
        ax.set_xlim(-0.6, len(years) - 0.4)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlabel("报告年度")
    fig.suptitle(CONDITIONAL_CHARTS["trends"] + "（各年度已读取报告合计）", fontsize=13)
    return fig


def build_figures(reports: pd.DataFrame, findings: pd.DataFrame, indicators: pd.DataFrame,
                  cells: pd.DataFrame | None = None) -> dict[str, Figure]:
    """All charts as Figures (file stem -> Figure), built with the CJK rcParams; 'trends' only for several years."""
    with matplotlib.rc_context(fonts.cjk_rc_params()):
        figs = {
            "findings_by_agency": findings_by_agency(findings),
            "agency_rule_heatmap": agency_rule_heatmap(findings),
            "rule_frequency": rule_frequency(findings),
            "quality_ranking": quality_ranking(indicators),
            "outcome_mix": outcome_mix(cells, reports),
            "templates_status": templates_status(reports),
        }
        trend = trends(reports, indicators, cells)
        if trend is not None:
            figs["trends"] = trend
        return figs


def _save_rc() -> dict:
    return {**fonts.cjk_rc_params(), "svg.fonttype": "path", "svg.hashsalt": "gov-disclosure-auditor"}


CHART_CELL_COLUMNS = ("report_id", "table", "row_id", "col_id", "value", "state")


def chart_cells(cells: pd.DataFrame | None, order: np.ndarray | None = None) -> pd.DataFrame | None:
    """The cells the charts read: numbers of table 三's 总计 column and of table 四 (outcome mix and trends), only
    the columns they use (filtering 2 million rows with every column costs seconds); with *order* (row positions
    of the ordered cells), in that order."""
    if cells is None or cells.empty:
        return cells
    table, state = cells["table"], cells["state"]
    keep = ((state == "NUMBER") & (((table == "t3") & (cells["col_id"] == "col.total")) | (table == "t4"))
            ).to_numpy(dtype=bool)
    rows = np.flatnonzero(keep) if order is None else order[keep[order]]
    return cells[list(CHART_CELL_COLUMNS)].take(rows).reset_index(drop=True)


def _save(fig: Figure, charts_dir: Path, stem: str) -> list[Path]:
    png, svg = charts_dir / f"{stem}.png", charts_dir / f"{stem}.svg"
    fig.savefig(png, dpi=DPI, format="png", facecolor="white", metadata={"Software": None},
                pil_kwargs={"compress_level": 1})   # a quarter faster than the default, files ~15% larger
    fig.set_layout_engine("none")   # keep the layout just computed: the SVG is laid out identically
    fig.savefig(svg, format="svg", facecolor="white", metadata={"Date": None, "Creator": None})
    canvas = fig.canvas   # free the 300-dpi pixel buffer now (~40 MB a chart), not when the figure goes
    if getattr(canvas, "renderer", None) is not None:
        canvas.renderer = None
        canvas._lastKey = None
    return [png, svg]


PARALLEL_MIN_REPORTS = 1000   # from this batch size the charts are rendered by two forked processes
_FIGURES: dict | None = None


# rendering order for two processes taking the next chart as they finish: most expensive first (measured on
# 10,000 reports: heatmap ~2 s, outcome mix ~1.6 s, quality ranking and rule frequency ~1.1 s, ...)
RENDER_ORDER = ("agency_rule_heatmap", "outcome_mix", "quality_ranking", "rule_frequency", "trends",
                "findings_by_agency", "templates_status")


def _render(job: tuple) -> None:
    charts_dir, stem = job
    with matplotlib.rc_context(_save_rc()):
        _save(_FIGURES[stem], Path(charts_dir), stem)


def _render_all(figures: dict[str, Figure], charts_dir: Path, parallel: bool) -> None:
    """PNG + SVG of every figure; with *parallel*, in two forked processes (they inherit the figures), each
    taking the next chart when it is done, the expensive ones first. Files are the same either way."""
    global _FIGURES
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if not parallel or (os.cpu_count() or 1) < 2 or "fork" not in mp.get_all_start_methods() or len(figures) < 2:
        for stem, fig in figures.items():
            _save(fig, charts_dir, stem)
        return
    rank = {stem: i for i, stem in enumerate(RENDER_ORDER)}
    jobs = [(str(charts_dir), stem) for stem in sorted(figures, key=lambda st: rank.get(st, -1))]
    _FIGURES = figures
    try:
        from .workbook import frozen_heap

        with frozen_heap(), ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("fork")) as pool:
            list(pool.map(_render, jobs, chunksize=1))
    finally:
        _FIGURES = None


def write_charts(charts_dir: Path, reports: pd.DataFrame, findings: pd.DataFrame,
                 indicators: pd.DataFrame, cells: pd.DataFrame | None = None, cache=None,
                 cells_order: np.ndarray | None = None) -> list[Path]:
    """Render every chart into *charts_dir* (created if needed) as PNG (300 dpi) and SVG (text as paths, so the
    Chinese glyphs render without the font); returns the written paths. *cells_order*: the row positions that
    order *cells* (csvout.prepare_lazy), when they are not in order.

    *cache* (a :class:`reuse.Cache`, optional): the charts are kept under a digest of everything they are drawn
    from (the reports, findings and indicators, the cells of :func:`chart_cells`, the rule titles); when it is
    unchanged the files are copied from there (they are byte-identical to a new rendering)."""
    charts_dir.mkdir(parents=True, exist_ok=True)
    cells = chart_cells(cells, cells_order)
    store = cache.kind("charts", len(reports), "", min_files=PARALLEL_MIN_REPORTS) if cache is not None else None
    key = None
    if store is not None:
        from .reuse import frame_token

        titles = sorted({str(r): L.rule_title(str(r)) for r in findings["rule_id"].astype(object).dropna()}.items())
        with matplotlib.rc_context(_save_rc()):   # the user's matplotlibrc could change the drawing too
            rc = [(k, repr(matplotlib.rcParams[k])) for k in sorted(matplotlib.rcParams.keys())
                  if k != "backend"]   # reading "backend" would resolve it (importing pyplot)
        key = store.key([frame_token(reports), frame_token(findings), frame_token(indicators),
                         frame_token(cells) if cells is not None else None, titles, rc])
        names = store.fetch_files(key, charts_dir)
        if names is not None:
            store.done(1, 1)
            return [charts_dir / n for n in names]
    with matplotlib.rc_context(_save_rc()):
        figures = build_figures(reports, findings, indicators, cells)
        _render_all(figures, charts_dir, parallel=len(reports) >= PARALLEL_MIN_REPORTS)
    written = [charts_dir / f"{stem}.{ext}" for stem in figures for ext in FORMATS]
    if store is not None:
        store.put_files(key, written)
        store.done(0, 1)
    return written
