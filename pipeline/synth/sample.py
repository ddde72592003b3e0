"""The embedded sample inbox: fictional agencies (青禾市, 云岚区, 白鹭县 ...), report years 2022–2023 with consistent
carry-over plus one 2020 gb2019 report, all four formats, about a third with injected defects.

`write_sample_inbox(raw_dir, truth_dir)` writes the documents and `manifest.csv` into raw_dir (every file there is
audit input) and one truth JSON per document into truth_dir (default: `sample-truth` next to raw_dir).
The output is byte-identical across runs: fixed seeds, fixed order, no timestamps.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pipeline.synth.numbers import Agency, rng

AGENCIES = {
    "qinghe-shi": Agency("青禾市人民政府", "gov", "city", "qinghe-shi", "www.qinghe.gov.cn", "青禾市人民政府"),
    "qinghe-sthjj": Agency("青禾市生态环境局", "dept", "city", "qinghe-sthjj", "sthjj.qinghe.gov.cn", "青禾市生态环境局",
                           profile=(("apps", 45), ("license", (80, 900)), ("penalty", (20, 400)),
                                    ("coercion", (0, 40)), ("fee", None))),
    "qinghe-jtj": Agency("青禾市交通运输局", "dept", "city", "qinghe-jtj", "www.qinghe.gov.cn", "青禾市人民政府",
                         profile=(("apps", 18), ("license", (2000, 20000)), ("penalty", (300, 5000)),
                                  ("coercion", (0, 60)), ("fee", (10.0, 400.0)))),
    "qinghe-jyj": Agency("青禾市教育局", "dept", "city", "qinghe-jyj", "jyj.qinghe.gov.cn", "青禾市教育局",
                         profile=(("apps", 30), ("license", (30, 600)), ("penalty", (0, 12)),
                                  ("coercion", (0, 2)), ("fee", (5.0, 90.0)))),
    "yunlan-sfj": Agency("云岚区司法局", "dept", "county", "yunlan-sfj", "www.yunlan.gov.cn", "云岚区人民政府",
                         profile=(("apps", 8), ("license", (0, 60)), ("penalty", (0, 20)))),
    "chengxi-jd": Agency("云岚区澄溪街道办事处", "township", "township", "chengxi-jd", "www.yunlan.gov.cn",
                         "云岚区人民政府"),
    "bailu-xian": Agency("白鹭县人民政府", "gov", "county", "bailu-xian", "www.bailu.gov.cn", "白鹭县人民政府",
                         profile=(("apps", 40),)),
    "bailu-fgj": Agency("白鹭县发展和改革局", "dept", "county", "bailu-fgj", "www.bailu.gov.cn", "白鹭县人民政府",
                        profile=(("apps", 10), ("license", (0, 120)), ("penalty", (0, 15)))),
}

# (agency slug, year, template, seed, format, render options, defects), rendered in this order; a report's `prev`
# is the same agency's report of year - 1 when it is in this list.
PLAN = [
    ("qinghe-shi", 2022, "gb2021", 101, "html_word", {}, ()),
    ("qinghe-shi", 2023, "gb2021", 102, "html_word", {"encoding": "gbk", "chrome": True, "junk": True}, ()),
    ("qinghe-sthjj", 2020, "gb2019", 201, "txt_cells", {}, ()),
    ("qinghe-sthjj", 2022, "gb2021", 202, "md", {}, ()),
    ("qinghe-sthjj", 2023, "gb2021", 203, "md", {},
     (("t3_total_processed", {"col": "col.natural_person", "k": 2}),)),
    ("yunlan-sfj", 2022, "gb2021", 301, "txt_crawler", {}, ()),
    ("yunlan-sfj", 2023, "gb2021", 302, "txt_cells", {}, (("t3_all_blank", {"include_t4": True}),)),
    ("bailu-fgj", 2022, "gb2021", 401, "html_word", {"encoding": "gbk", "chrome": True, "label_breaks": "p"},
     ("outdated_template",)),
    ("bailu-fgj", 2023, "gb2021", 402, "html_word", {"t2_layout": "split", "label_breaks": "p"},
     (("blank_cells", {"pattern": "legal_person"}),)),
    ("chengxi-jd", 2022, "gb2021", 501, "txt_cells", {"junk": False}, ()),
    ("chengxi-jd", 2023, "gb2021", 502, "html_word", {"t2_layout": "split", "junk": True},
     (("missing_section", {"section": "sec.problems"}),)),
    ("bailu-xian", 2022, "gb2021", 601, "txt_crawler", {"t4_spaced": True, "breadcrumb": False}, ()),
    ("bailu-xian", 2023, "gb2021", 602, "md", {"headings": False},
     (("missing_row", {"row": "t3.unable.unclear_after_correction"}),)),
    ("qinghe-jtj", 2022, "gb2021", 701, "html_word", {"encoding": "gbk", "chrome": True}, ()),
    ("qinghe-jtj", 2023, "gb2021", 702, "txt_crawler", {}, ()),
    ("qinghe-jyj", 2022, "gb2021", 801, "md", {}, ()),
    ("qinghe-jyj", 2023, "gb2021", 802, "html_word", {"label_breaks": "br", "junk": True},
     (("t3_row_total", {"row": "t3.new_received", "k": 2}), ("t4_total", {"group": "t4.review", "mode": "zero"}))),
]

EXT = {"html_word": "html", "txt_cells": "txt", "txt_crawler": "txt", "md": "md"}
MANIFEST_COLUMNS = ["file", "agency", "year", "published_at", "url", "agency_kind", "level"]
CRAWLER_TRIES = 60


def _url(rep, fmt) -> str:
    site = rep.agency.site or "www.example.gov.cn"
    pub = rep.published_at
    doc_id = 10000 + rng(rep.seed, "docid").randint(0, 89999)
    suffix = "htm" if fmt == "txt_crawler" else "html"
    return f"https://{site}/zwgk/zfxxgk/zfxxgknb/{pub[:7].replace('-', '')}/t{pub[:10].replace('-', '')}_{doc_id}.{suffix}"


def build_sample() -> list[tuple[str, bytes, dict, dict]]:
    """[(file name, document bytes, truth, manifest row)] for the whole sample, in PLAN order."""
    from pipeline.synth import make_report, render

    done: dict[tuple[str, int], object] = {}
    out = []
    for slug, year, tid, seed, fmt, opts, defects in PLAN:
        agency = AGENCIES[slug]
        prev = done.get((slug, year - 1))
        file = f"{slug}-{year}.{EXT[fmt]}"
        tries = CRAWLER_TRIES if fmt == "txt_crawler" else 1
        for attempt in range(tries):
            rep = make_report(agency, year, tid, seed + 1000 * attempt, prev=prev, defects=defects)
            url = _url(rep, fmt)
            try:
                data, truth = render(rep, fmt, file=file, url=url, **opts)
            except ValueError:
                if attempt == tries - 1:
                    raise
                continue
            # a crawler dump is only used where the t3/t4 digit runs split back uniquely (t2 may stay ambiguous)
            if fmt == "txt_crawler" and any(a[0] != "t2" for a in truth.get("ambiguous_cells") or ()):
                if attempt < tries - 1:
                    continue
            break
        done[(slug, year)] = rep
        row = {"file": file, "agency": agency.name, "year": year, "published_at": rep.published_at[:10],
               "url": url, "agency_kind": agency.kind, "level": agency.level}
        out.append((file, data, truth, row))
    return out


def _manifest_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in sorted(rows, key=lambda r: r["file"]):
        w.writerow(row)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _old_files(raw_dir: Path) -> list[str]:
    path = raw_dir / "manifest.csv"
    if not path.exists():
        return []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [r["file"] for r in csv.DictReader(fh) if r.get("file")]
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return []


def write_sample_inbox(raw_dir, truth_dir=None) -> list[Path]:
    raw_dir = Path(raw_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else raw_dir.parent / "sample-truth"
    items = build_sample()
    raw_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    new_files = {f for f, *_ in items}
    for old in _old_files(raw_dir):           # files of an earlier sample that this one no longer has
        if old not in new_files and "/" not in old and "\\" not in old:
            for p in (raw_dir / old, truth_dir / (Path(old).stem + ".json")):
                if p.is_file():
                    p.unlink()
    written = []
    for file, data, truth, _row in items:
        (raw_dir / file).write_bytes(data)
        (truth_dir / (Path(file).stem + ".json")).write_bytes(
            (json.dumps(truth, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
        written.append(raw_dir / file)
    (raw_dir / "manifest.csv").write_bytes(_manifest_bytes([row for *_, row in items]))
    return written
