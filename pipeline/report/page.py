"""OUT/index.html: a self-contained offline summary page.

One file with no network resources: the charts are embedded as ``data:`` URIs (the SVGs, whose text is drawn as
paths, so they look the same without the font), the style and the small sorting/filtering script are inline.
Links point only at files inside OUT (audit.xlsx, findings.csv, notices/...), relative.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from . import labels as L
from .csvout import _is_missing

MAX_FINDINGS = 5000    # rows of the findings table in the page (errors first); the complete list is in the CSV/xlsx

_STYLE = """
body{font-family:"Microsoft YaHei","PingFang SC","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;
 color:#222;background:#f6f7f9}
header{background:#1f4e79;color:#fff;padding:18px 28px}header h1{margin:0 0 6px;font-size:22px}
main{padding:16px 28px;max-width:1500px}
section{background:#fff;border:1px solid #dde;border-radius:6px;margin:0 0 18px;padding:12px 18px}
h2{font-size:18px;margin:4px 0 10px;color:#1f4e79}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #dde;border-radius:6px;
 padding:10px 16px;min-width:120px}.card b{display:block;font-size:22px}
.error{background:#ffc7ce}.warning{background:#ffeb9c}.info{background:#ddebf7}
figure{margin:0 0 18px}figure img{width:100%;max-width:1100px;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:#555}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #ccd;padding:4px 6px;
 vertical-align:top;text-align:left}th{background:#d9e1f2;cursor:pointer;position:sticky;top:0;user-select:none}
th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}td.num{text-align:right}
.controls{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 10px}.controls input{width:260px}
.note{color:#666;font-size:13px}a{color:#0563c1}
@media print{header{background:#fff;color:#000}section{border:none}.controls{display:none}}
"""

_SCRIPT = """
(function(){
  function cellValue(td){var v=td.getAttribute('data-v');if(v!==null&&v!==''&&!isNaN(v))return parseFloat(v);
    return (td.textContent||'').trim();}
  document.querySelectorAll('table.sortable').forEach(function(table){
    var ths=table.querySelectorAll('thead th');
    ths.forEach(function(th,idx){th.addEventListener('click',function(){
      var asc=!th.classList.contains('sorted-asc');
      ths.forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var x=cellValue(a.cells[idx]),y=cellValue(b.cells[idx]);
        if(typeof x==='number'&&typeof y==='number')return asc?x-y:y-x;
        if(typeof x==='number')return asc?-1:1;if(typeof y==='number')return asc?1:-1;
        return asc?String(x).localeCompare(String(y),'zh'):String(y).localeCompare(String(x),'zh');});
      rows.forEach(function(r){body.appendChild(r);});});});
  });
  var table=document.getElementById('findings');if(!table)return;
  var q=document.getElementById('f-text'),sev=document.getElementById('f-sev'),ag=document.getElementById('f-agency'),
      yr=document.getElementById('f-year'),count=document.getElementById('f-count');
  function apply(){var t=(q.value||'').trim().toLowerCase(),n=0;
    Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
      var ok=(!sev.value||r.getAttribute('data-sev')===sev.value)&&(!ag.value||r.getAttribute('data-agency')===ag.value)
        &&(!yr.value||r.getAttribute('data-year')===yr.value)&&(!t||r.textContent.toLowerCase().indexOf(t)>=0);
      r.style.display=ok?'':'none';if(ok)n++;});
    count.textContent=n;}
  [q,sev,ag,yr].forEach(function(el){el.addEventListener('input',apply);el.addEventListener('change',apply);});
  apply();
})();
"""


def _e(v) -> str:
    return "" if _is_missing(v) else html.escape(str(v), quote=True)


def _num(v) -> str:
    if _is_missing(v):
        return ""
    f = float(v)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _data_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    mime = {".svg": "image/svg+xml", ".png": "image/png"}.get(path.suffix.lower())
    if mime is None:
        return None
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _charts_html(charts_dir: Path, titles: dict[str, str]) -> str:
    parts = []
    for stem, title in titles.items():
        uri = _data_uri(charts_dir / f"{stem}.svg") or _data_uri(charts_dir / f"{stem}.png")
        if uri is None:
            continue
        parts.append(f'<figure><img src="{uri}" alt="{_e(title)}"><figcaption>{_e(title)}（charts/{_e(stem)}.png、'
                     f'.svg）</figcaption></figure>')
    return "\n".join(parts)


def _agency_table(reports: pd.DataFrame, indicators: pd.DataFrame, notices: dict[str, str]) -> str:
    if reports.empty:
        return '<p class="note">本批次没有报告。</p>'
    r = reports.copy()
    r["agency_"] = r["agency"].astype(object).map(lambda v: "" if _is_missing(v) else str(v).strip())
    q = dict(zip(indicators["report_id"].astype(object), pd.to_numeric(indicators["K-07"], errors="coerce"))) \
        if "K-07" in indicators.columns else {}
    r["q"] = r["report_id"].astype(object).map(q)
    r["y"] = pd.to_numeric(r["year"], errors="coerce")
    for c in ("n_errors", "n_warnings", "n_infos"):
        r[c] = pd.to_numeric(r[c], errors="coerce").fillna(0)
    r["failed_"] = (r["status"].astype(object) == "failed").astype(int)
    g = r.groupby("agency_", sort=True).agg(
        n=("report_id", "size"), e=("n_errors", "sum"), w=("n_warnings", "sum"), i=("n_infos", "sum"),
        q=("q", "mean"), failed=("failed_", "sum"))
    years: dict[str, list[int]] = {}   # agency -> its distinct years, ascending
    ys = r[["agency_", "y"]].dropna().drop_duplicates()
    for a, y in sorted(zip(ys["agency_"].tolist(), ys["y"].tolist())):
        years.setdefault(a, []).append(int(y))
    g.insert(1, "years", ["、".join(map(str, years.get(a, ()))) for a in g.index])
    rows = []
    for name, x in g.iterrows():
        link = notices.get(name)
        notice = f'<a href="{_e(link)}">整改通知</a>' if link else ""
        rows.append(
            f"<tr><td>{_e(name or '（未识别机关）')}</td><td class=num data-v={int(x.n)}>{int(x.n)}</td>"
            f"<td>{_e(x.years)}</td><td class=\"num{' error' if x.e else ''}\" data-v={int(x.e)}>{int(x.e)}</td>"
            f"<td class=\"num{' warning' if x.w else ''}\" data-v={int(x.w)}>{int(x.w)}</td>"
            f"<td class=num data-v={int(x.i)}>{int(x.i)}</td>"
            f"<td class=num data-v=\"{_num(x.q)}\">{'' if pd.isna(x.q) else f'{x.q:.0f}'}</td>"
            f"<td class=num data-v={x.failed}>{x.failed}</td><td>{notice}</td></tr>")
    return ('<table class="sortable" id="agencies"><thead><tr><th>机关</th><th>报告数</th><th>年度</th><th>错误</th>'
            '<th>警告</th><th>提示</th><th>平均质量分</th><th>读取失败</th><th>整改通知</th></tr></thead><tbody>'
            + "\n".join(rows) + "</tbody></table>")


def _findings_table(findings: pd.DataFrame, reports: pd.DataFrame) -> tuple[str, int]:
    if findings.empty:
        return '<p class="note">本批次未发现问题。</p>', 0
    rank = findings["severity"].astype(object).map(lambda v: {"error": 0, "warning": 1}.get(v, 2))
    f = findings.assign(_r=rank).sort_values("_r", kind="stable")
    shown = f.head(MAX_FINDINGS)
    tpl = dict(zip(reports["report_id"].astype(object), reports["template"].astype(object)))
    rows = []
    for x in shown.to_dict("records"):
        sev = "" if _is_missing(x.get("severity")) else str(x["severity"])
        year = "" if _is_missing(x.get("year")) else str(int(x["year"]))
        agency = "" if _is_missing(x.get("agency")) else str(x["agency"])
        where = L.place(x.get("table"), x.get("row_id"), x.get("col_id"), x.get("section_id"),
                        tpl.get(x.get("report_id")) or "gb2021")
        rows.append(
            f'<tr data-sev="{_e(sev)}" data-agency="{_e(agency)}" data-year="{_e(year)}">'
            f"<td>{_e(agency)}</td><td class=num data-v=\"{_e(year)}\">{_e(year)}</td>"
            f"<td>{_e(x.get('rule_id'))}</td>"
            f"<td class=\"{_e(sev)}\" data-v=\"{ {'error': 0, 'warning': 1, 'info': 2}.get(sev, 3)}\">"
            f"{_e(L.SEVERITY_ZH.get(sev, sev))}</td>"
            f"<td>{_e(L.FINDING_STATUS_ZH.get(x.get('status'), x.get('status')))}</td>"
            f"<td>{_e(where)}</td><td>{_e(x.get('message'))}</td>"
            f"<td class=num data-v=\"{_num(x.get('expected'))}\">{_num(x.get('expected'))}</td>"
            f"<td class=num data-v=\"{_num(x.get('actual'))}\">{_num(x.get('actual'))}</td>"
            f"<td>{_e(x.get('source_file'))}</td></tr>")
    agencies = sorted({str(a) for a in shown["agency"].dropna() if str(a)})
    years = sorted({str(int(y)) for y in pd.to_numeric(shown["year"], errors="coerce").dropna()})
    controls = (
        '<div class="controls"><label>搜索 <input id="f-text" type="search" placeholder="机关、规则、说明中的文字"></label>'
        '<label>严重程度 <select id="f-sev"><option value="">全部</option><option value="error">错误</option>'
        '<option value="warning">警告</option><option value="info">提示</option></select></label>'
        '<label>机关 <select id="f-agency"><option value="">全部</option>'
        + "".join(f'<option value="{_e(a)}">{_e(a)}</option>' for a in agencies) + "</select></label>"
        '<label>年度 <select id="f-year"><option value="">全部</option>'
        + "".join(f'<option value="{y}">{y}</option>' for y in years) + "</select></label>"
        '<span class="note">显示 <b id="f-count"></b> 条（点击表头排序）</span></div>')
    table = ('<table class="sortable" id="findings"><thead><tr><th>机关</th><th>年度</th><th>规则</th><th>严重程度</th>'
             '<th>状态</th><th>位置</th><th>说明</th><th>应为</th><th>实为</th><th>文件</th></tr></thead><tbody>'
             + "\n".join(rows) + "</tbody></table>")
    return controls + table, len(shown)


def write_index(path: Path, reports: pd.DataFrame, findings: pd.DataFrame, indicators: pd.DataFrame,
                charts_dir: Path, notice_paths: dict[str, Path], chart_titles: dict[str, str]) -> None:
    """Write the page; *notice_paths* maps agency -> its notice (inside OUT), *chart_titles* chart stem -> title."""
    out_dir = path.parent
    status = reports["status"].astype(object).value_counts().to_dict() if len(reports) else {}
    sev = findings["severity"].astype(object).value_counts().to_dict() if len(findings) else {}
    years = sorted({int(y) for y in pd.to_numeric(reports["year"], errors="coerce").dropna()})
    agencies = {str(a).strip() for a in reports["agency"].dropna() if str(a).strip()}
    notices = {name: p.relative_to(out_dir).as_posix() for name, p in notice_paths.items()}

    cards = [
        ("报告", len(reports), ""), ("正常", status.get("ok", 0), ""), ("部分识别", status.get("partial", 0), ""),
        ("读取失败", status.get("failed", 0), "error" if status.get("failed") else ""),
        ("错误", sev.get("error", 0), "error"), ("警告", sev.get("warning", 0), "warning"),
        ("提示", sev.get("info", 0), "info"), ("机关", len(agencies), ""),
    ]
    card_html = "".join(f'<div class="card {c}"><span>{_e(k)}</span><b>{int(v)}</b></div>' for k, v, c in cards)
    findings_html, shown = _findings_table(findings, reports)
    more = ""
    if shown < len(findings):
        more = (f'<p class="note">共 {len(findings)} 条问题，本页显示前 {shown} 条（错误、警告优先）；完整清单见 '
                '<a href="findings.csv">findings.csv</a> 和 <a href="audit.xlsx">audit.xlsx</a>。</p>')
    year_text = f"{years[0]}–{years[-1]}年度" if len(years) > 1 else (f"{years[0]}年度" if years else "")
    doc = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>政府信息公开工作年度报告审核结果</title>
<style>{_STYLE}</style></head>
<body>
<header><h1>政府信息公开工作年度报告审核结果</h1>
<div>{_e(year_text)} 共 {len(reports)} 份报告、{len(agencies)} 个机关；本页离线可用，不访问网络。</div></header>
<main>
<section><h2>概况</h2><div class="cards">{card_html}</div>
<p class="note">输出文件：<a href="audit.xlsx">audit.xlsx</a>（审核工作簿）、<a href="findings.csv">findings.csv</a>（问题清单）、
<a href="reports.csv">reports.csv</a>、<a href="indicators.csv">indicators.csv</a>、<a href="cells.csv">cells.csv</a>；
整改通知在 notices/ 文件夹，图表在 charts/ 文件夹（PNG 用于打印，SVG 用于排版）。</p></section>
<section><h2>图表</h2>{_charts_html(charts_dir, chart_titles)}</section>
<section><h2>各机关情况</h2>{_agency_table(reports, indicators, notices)}</section>
<section><h2>问题清单</h2>{more}{findings_html}</section>
</main>
<script>{_SCRIPT}</script>
</body></html>
"""
    path.write_text(doc, encoding="utf-8")
