"""Large generated inboxes: `python -m pipeline synth --n 10000 --formats html,txt,pdf,docx --years 2022-2024 --out DIR`.

A fictional province's worth of agencies, each publishing one report per year:

- per 市: the 市人民政府, its departments (市教育局, 市生态环境局 ...), its 区/县 governments, their departments and
  their townships (镇/乡人民政府, 街道办事处). Cities are added until there are enough agencies; the agencies are
  taken in an interleaved order (city government, a county government, a city department, a township ...), so even
  a small corpus mixes kinds and levels.
- every agency reports for every year of `--years` (the last agency may get fewer when N is not a multiple):
  the numbers of year t continue year t-1 (上年结转 = last year's 结转下年度, stocks of 规范性文件, section 五
  rectifying last year's problems — see numbers.py / narrative.py). Templates: gb2021 from 2021, gb2019 before.
- about `--defect-rate` of the reports carry one injected defect (a table, narrative, metadata, structure or
  cross-year defect of defects.py; a defect that does not apply to a report is replaced by another deterministically).
- formats are drawn per report from `--formats` (html → Word-export HTML in UTF-8/GBK, sometimes with site chrome;
  txt → .docx text dumps or crawler page dumps; md; pdf → printed by headless Chromium; docx; doc; scan).

Written: the documents under OUT (one folder per city), `OUT/manifest.csv`, `OUT/agencies.csv` (the roster: agency,
parent, agency_kind, level, aliases, rolls_up_into) and one truth JSON per document under TRUTH (same relative path,
`.json`). Everything is a function of (n, formats, years, defect rate, seed): each report's choices come from
`rng(seed, agency, year, ...)`, never from the order work is done in, so a parallel run (`workers`) writes the
same bytes as a serial one. Exception: PDF (Chromium stamps a creation date) and DOC (LibreOffice) bytes vary
between runs; their text and truth do not.
"""
from __future__ import annotations

import csv
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.synth.numbers import Agency, rng

# --- formats ------------------------------------------------------------------------------------------------------

# command-line name -> registry formats it draws from (with weights)
FORMAT_GROUPS = {
    "html": (("html_word", 1.0),),
    "txt": (("txt_cells", 0.6), ("txt_crawler", 0.4)),
    "md": (("md", 1.0),),
    "pdf": (("pdf", 1.0),),
    "docx": (("docx", 1.0),),
    "doc": (("doc", 1.0),),
    "scan": (("pdf_scan", 1.0),),
}
ALIASES = {"html_word": "html", "txt_cells": "txt", "txt_crawler": "txt", "pdf_scan": "scan"}
SLOW_FORMATS = {"pdf", "docx", "doc", "scan"}


def parse_formats(text: str) -> list[str]:
    """'html,txt,pdf' -> ['html', 'txt', 'pdf'] (registry names such as html_word are accepted too)."""
    out = []
    for part in (text or "").split(","):
        p = part.strip().lower()
        if not p:
            continue
        p = ALIASES.get(p, p)
        if p not in FORMAT_GROUPS:
            raise ValueError(f"未知格式 {part.strip()!r}（可选：{', '.join(FORMAT_GROUPS)}） | "
                             f"unknown format {part.strip()!r}; known: {', '.join(FORMAT_GROUPS)}")
        if p not in out:
            out.append(p)
    if not out:
        raise ValueError("至少需要一种格式 | at least one format is needed")
    return out


def parse_years(text: str) -> list[int]:
    """'2022-2024' -> [2022, 2023, 2024]; '2020,2022' -> [2020, 2022]."""
    years: set[int] = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                years.update(range(min(a, b), max(a, b) + 1))
            elif part:
                years.add(int(part))
    except ValueError:
        raise ValueError(f"年份格式应为 2022-2024 或 2022,2023：{text!r} | years must look like 2022-2024 or "
                         f"2022,2023: {text!r}") from None
    if not years or min(years) < 2008 or max(years) > 2100:
        raise ValueError(f"年份超出范围（2008–2100）：{text!r} | years out of range 2008–2100: {text!r}")
    return sorted(years)


# --- the agency hierarchy -----------------------------------------------------------------------------------------

FIRST = "青云白松桐临安丰清永长嘉东西南北金玉翠紫泰文宁明新兴德平华高龙凤鹤宝瑞春秋"
SECOND = "禾岚鹭涛庐川泽源乐阳林屏辰山湖泉溪峰江河州原城谷洲浦坪岭滨沙塘宁"
CITY_DEPTS = [
    ("发展和改革委员会", "fgw"), ("教育局", "jyj"), ("科学技术局", "kjj"), ("工业和信息化局", "gxj"),
    ("公安局", "gaj"), ("民政局", "mzj"), ("司法局", "sfj"), ("财政局", "czj"), ("人力资源和社会保障局", "rsj"),
    ("自然资源和规划局", "zrzyj"), ("生态环境局", "sthjj"), ("住房和城乡建设局", "zjj"), ("交通运输局", "jtj"),
    ("水利局", "slj"), ("农业农村局", "nyj"), ("商务局", "swj"), ("文化广电和旅游局", "wlj"),
    ("卫生健康委员会", "wjw"), ("退役军人事务局", "tyjrj"), ("应急管理局", "yjj"), ("审计局", "sjj"),
    ("市场监督管理局", "scjgj"), ("统计局", "tjj"), ("医疗保障局", "ybj"), ("城市管理局", "cgj"),
    ("体育局", "tyj"), ("信访局", "xfj"), ("数据资源管理局", "sjzyj"),
]
COUNTY_DEPTS = CITY_DEPTS[:20]
N_COUNTIES = 6          # 区/县 per city
N_TOWNSHIPS = 6         # townships per 区/县
# Typical annual applications of a kind/level (numbers.PROFILE_DEFAULTS) are scaled per agency by a factor.
APPS_SCALE = (0.3, 2.5)


@dataclass(frozen=True)
class RosterEntry:
    agency: Agency
    parent: str           # the body it belongs to administratively ('' for a city government)
    folder: str           # sub-folder of OUT (one per city)


def _names(r, n: int, taken: set) -> list[str]:
    out = []
    while len(out) < n:
        name = r.choice(FIRST) + r.choice(SECOND)
        if name[0] != name[1] and name not in taken:
            taken.add(name)
            out.append(name)
    return out


def _round_robin(lists: list[list]) -> list:
    out, k = [], 0
    while any(k < len(x) for x in lists):
        out.extend(x[k] for x in lists if k < len(x))
        k += 1
    return out


def _scaled(kind: str, level: str, r) -> tuple:
    from pipeline.synth.numbers import PROFILE_DEFAULTS

    base = PROFILE_DEFAULTS[(kind, level)]["apps"]
    return (("apps", max(1, round(base * r.uniform(*APPS_SCALE)))),)


def _city(ci: int, seed: int, taken: set) -> list[RosterEntry]:
    r = rng(seed, "city", ci)
    city = _names(r, 1, taken)[0]
    code = f"c{ci + 1:02d}"
    site = f"www.{code}.gov.cn"
    city_gov = f"{city}市人民政府"
    folder = code
    gov = RosterEntry(Agency(city_gov, "gov", "city", f"{code}-shi", site, city_gov, _scaled("gov", "city", r)),
                      "", folder)
    depts = [RosterEntry(Agency(f"{city}市{name}", "dept", "city", f"{code}-{abbr}", site, city_gov,
                                _scaled("dept", "city", r)), city_gov, folder) for name, abbr in CITY_DEPTS]
    counties = []
    for k, cname in enumerate(_names(r, N_COUNTIES, taken)):
        suffix = "区" if k % 2 == 0 else "县"
        ccode = f"{code}-q{k + 1}"
        cgov_name = f"{city}市{cname}{suffix}人民政府"
        cgov = RosterEntry(Agency(cgov_name, "gov", "county", ccode, site, cgov_name, _scaled("gov", "county", r)),
                           city_gov, folder)
        cdepts = [RosterEntry(Agency(f"{city}市{cname}{suffix}{name}", "dept", "county", f"{ccode}-{abbr}", site,
                                     cgov_name, _scaled("dept", "county", r)), cgov_name, folder)
                  for name, abbr in COUNTY_DEPTS]
        towns = []
        for t, tname in enumerate(_names(r, N_TOWNSHIPS, taken)):
            if suffix == "区":
                full = f"{city}市{cname}区{tname}街道办事处"
            else:
                full = f"{city}市{cname}县{tname}{'镇' if t % 3 else '乡'}人民政府"
            towns.append(RosterEntry(Agency(full, "township", "township", f"{ccode}-t{t + 1}", site, cgov_name,
                                            _scaled("township", "township", r)), cgov_name, folder))
        counties.append([cgov] + _round_robin([towns, cdepts]))
    return [gov] + _round_robin([depts] + counties)


def build_roster(n_agencies: int, seed: int = 0) -> list[RosterEntry]:
    """The first n_agencies of the interleaved hierarchy (cities added as needed)."""
    out: list[RosterEntry] = []
    taken: set = set()
    ci = 0
    while len(out) < n_agencies:
        out.extend(_city(ci, seed, taken))
        ci += 1
    return out[:n_agencies]


# --- defects ------------------------------------------------------------------------------------------------------

# one defect per affected report, drawn from these (the kinds needing `source` — copied_text, identical_t3 — are
# left out: they pair two agencies); kinds that do not apply to a report are replaced (see _make)
TABLE_KINDS = ("t3_row_total", "t3_total_processed", "t3_carry", "t4_total", "t3_all_blank", "missing_section",
               "outdated_template", "missing_row", "blank_cells")


def _defect_pool() -> list[str]:
    from pipeline.synth.defects import RULE_KINDS

    return list(TABLE_KINDS) + [k for k in RULE_KINDS if k not in ("copied_text", "identical_t3")]


def _make(agency: Agency, year: int, seed: int, prev, rate: float, pool: list[str]):
    """The report of (agency, year): with probability `rate` one defect; a kind that raises ValueError for this
    report (not applicable) is replaced by the next one of a seeded shuffle of the pool."""
    from pipeline.synth import make_report

    tid = "gb2021" if year >= 2021 else "gb2019"
    r = rng(seed, "defect-choice")
    if r.random() < rate:
        kinds = list(pool)
        r.shuffle(kinds)
        for kind in kinds[:12]:
            try:
                return make_report(agency, year, tid, seed, prev=prev, defects=[kind])
            except ValueError:
                continue
    return make_report(agency, year, tid, seed, prev=prev)


# --- rendering ----------------------------------------------------------------------------------------------------

def _pick_format(groups: list[str], r) -> tuple[str, str]:
    group = groups[int(r.random() * len(groups))]
    choices = FORMAT_GROUPS[group]
    x, acc = r.random() * sum(w for _, w in choices), 0.0
    for fmt, w in choices:
        acc += w
        if x < acc:
            return group, fmt
    return group, choices[-1][0]


def _options(fmt: str, r) -> dict:
    if fmt == "html_word":
        return {"encoding": "gbk" if r.random() < 0.3 else "utf-8", "chrome": r.random() < 0.5,
                "junk": r.random() < 0.3, "t2_layout": "split" if r.random() < 0.2 else "single",
                "label_breaks": r.choice(["br", "br", "p", None])}
    if fmt == "txt_cells":
        return {"junk": r.random() < 0.5, "t2_layout": "split" if r.random() < 0.2 else "single"}
    if fmt == "txt_crawler":
        return {"t4_spaced": r.random() < 0.3, "breadcrumb": r.random() < 0.7}
    if fmt == "md":
        return {"headings": r.random() < 0.85}
    if fmt in ("docx", "doc"):
        return {"nested": r.random() < 0.1, "t2_layout": "split" if r.random() < 0.2 else "single",
                "label_breaks": r.choice(["br", "p", None]), "junk": r.random() < 0.2}
    if fmt == "pdf":
        return {"page_size": "A5 landscape" if r.random() < 0.15 else "A4", "borderless": r.random() < 0.1,
                "t2_layout": "split" if r.random() < 0.2 else "single"}
    if fmt == "pdf_scan":
        return {"skew": round(r.uniform(-1.5, 1.5), 2), "noise": round(r.uniform(0.2, 0.6), 2)}
    return {}


def _url(rep, site: str, r) -> str:
    pub = rep.published_at
    return (f"https://{site}/zwgk/zfxxgk/zfxxgknb/{pub[:7].replace('-', '')}/"
            f"t{pub[:10].replace('-', '')}_{10000 + r.randint(0, 89999)}.html")


def _render(rep, fmt: str, file_stem: str, url: str, r) -> tuple[bytes, dict, str]:
    """(bytes, truth, file name) — a crawler dump whose t3/t4 digit runs do not split back uniquely (or cannot be
    printed at all) is written as a cell dump instead, as the sample inbox does."""
    from pipeline.synth.render import EXTENSIONS, render

    opts = _options(fmt, r)
    if fmt == "txt_crawler":
        try:
            data, truth = render(rep, fmt, file=f"{file_stem}.txt", url=url, **opts)
            if not any(a[0] != "t2" for a in truth.get("ambiguous_cells") or ()):
                return data, truth, f"{file_stem}.txt"
        except ValueError:
            pass
        fmt, opts = "txt_cells", _options("txt_cells", r)
    file = f"{file_stem}.{EXTENSIONS[fmt]}"
    data, truth = render(rep, fmt, file=file, url=url, **opts)
    return data, truth, file


@dataclass(frozen=True)
class Task:
    index: int                # agency index in the roster
    entry: RosterEntry
    years: tuple
    groups: tuple
    rate: float
    seed: int
    out: str
    truth: str


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_task(task: Task) -> list[dict]:
    """Generate, render and write every report of one agency (its years in order, each chained to the previous).
    Returns the manifest rows (plus 'format' and 'defects' for the summary)."""
    pool = _defect_pool()
    ag = task.entry.agency
    prev = None
    rows = []
    for year in task.years:
        seed = int.from_bytes(rng(task.seed, "report", task.index, year).randbytes(4), "big")
        rep = _make(ag, year, seed, prev, task.rate, pool)
        r = rng(task.seed, "render", task.index, year)
        _group, fmt = _pick_format(list(task.groups), r)
        stem = f"{task.entry.folder}/{ag.slug}-{year}"
        url = _url(rep, ag.site or "www.example.gov.cn", rng(task.seed, "url", task.index, year))
        data, truth, file = _render(rep, fmt, stem, url, r)
        truth["parent"] = task.entry.parent
        _write(Path(task.out) / file, data)
        _write(Path(task.truth) / (file.rsplit(".", 1)[0] + ".json"),
               (json.dumps(truth, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
        rows.append({"file": file, "agency": ag.name, "year": year, "published_at": rep.published_at[:10],
                     "url": url,
                     "agency_kind": ag.kind, "level": ag.level,
                     "_format": truth["format"], "_defects": [d["kind"] for d in rep.defects],
                     "_findings": len(truth["expected_findings"])})
        prev = rep
    return rows


MANIFEST_COLUMNS = ["file", "agency", "year", "published_at", "url", "agency_kind", "level"]
ROSTER_COLUMNS = ["agency", "parent", "agency_kind", "level", "aliases", "rolls_up_into"]


def _csv_bytes(columns: list[str], rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow(row)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def plan(n: int, years: list[int], groups: list[str], rate: float, seed: int, out: Path, truth: Path) -> list[Task]:
    n_agencies = -(-n // len(years))
    roster = build_roster(n_agencies, seed)
    tasks, left = [], n
    for i, entry in enumerate(roster):
        ys = tuple(years[:min(len(years), left)])
        left -= len(ys)
        tasks.append(Task(i, entry, ys, tuple(groups), rate, seed, str(out), str(truth)))
    return tasks


def write_volume(out_dir, n: int, formats="html,txt", years="2022-2024", defect_rate: float = 0.15,
                 seed: int = 0, truth_dir=None, workers: int | None = None, progress=None) -> dict:
    """Write a generated inbox of n reports into out_dir (+ manifest.csv, agencies.csv) and the truth JSONs into
    truth_dir (default: `<out_dir>-truth` beside it). Returns a summary dict (counts by format and defect)."""
    out = Path(out_dir)
    truth = Path(truth_dir) if truth_dir is not None else out.parent / f"{out.name}-truth"
    groups = parse_formats(formats) if isinstance(formats, str) else parse_formats(",".join(formats))
    year_list = parse_years(years) if isinstance(years, str) else sorted(set(int(y) for y in years))
    if n < 1:
        raise ValueError("报告数量至少为 1 | --n must be at least 1")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError("缺陷比例应在 0 到 1 之间 | --defect-rate must be between 0 and 1")
    if "pdf" in groups:
        from pipeline.synth.fmt_pdf import find_renderer

        find_renderer("auto")            # fail before writing anything when no renderer is installed
    tasks = plan(n, year_list, groups, defect_rate, seed, out, truth)
    out.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    workers = max(1, workers or os.cpu_count() or 1)
    rows: list[dict] = []
    if workers == 1 or len(tasks) < 4:
        for t in tasks:
            rows.extend(run_task(t))
            if progress:
                progress(len(rows), n)
    else:
        heavy = any(g in SLOW_FORMATS for g in groups)
        chunk = 1 if heavy else max(1, min(32, len(tasks) // (workers * 8) or 1))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(run_task, tasks, chunksize=chunk):
                rows.extend(part)
                if progress:
                    progress(len(rows), n)
    rows.sort(key=lambda r: r["file"])
    _write(out / "manifest.csv", _csv_bytes(MANIFEST_COLUMNS, rows))
    roster_rows = [{"agency": t.entry.agency.name, "parent": t.entry.parent, "agency_kind": t.entry.agency.kind,
                    "level": t.entry.agency.level, "aliases": "", "rolls_up_into": ""} for t in tasks]
    _write(out / "agencies.csv", _csv_bytes(ROSTER_COLUMNS, roster_rows))
    by_format: dict[str, int] = {}
    by_defect: dict[str, int] = {}
    for row in rows:
        by_format[row["_format"]] = by_format.get(row["_format"], 0) + 1
        for k in row["_defects"]:
            by_defect[k] = by_defect.get(k, 0) + 1
    return {"documents": len(rows), "agencies": len(tasks), "years": year_list, "out": str(out),
            "truth": str(truth), "by_format": dict(sorted(by_format.items())),
            "with_defects": sum(1 for row in rows if row["_defects"]),
            "by_defect": dict(sorted(by_defect.items(), key=lambda kv: (-kv[1], kv[0])))}
