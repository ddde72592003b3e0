"""Command line: `python -m pipeline audit RAW_DIR [--out OUT_DIR] ...` and `python -m pipeline synth ...`."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # offline: no telemetry, ever
os.environ.setdefault("MPLBACKEND", "Agg")

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_FINDINGS = 0, 1, 2, 3

DESCRIPTION = """\
政府信息公开工作年度报告 批量审核工具 — batch auditor for government information disclosure annual reports.

Reads every report in RAW_DIR (HTML pages, PDF incl. scans via offline OCR, Word DOCX/DOC, text dumps,
markdown conversions), extracts tables 二/三/四 into canonical cells, checks the template and the arithmetic
identities (勾稽关系), and writes reports.csv, cells.csv/.parquet, sections.parquet, findings.csv/.parquet,
indicators.csv, audit.xlsx and charts/*.png into OUT_DIR (replaced atomically)."""


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    a = sub.add_parser("audit", help="audit a folder of reports (审核一个文件夹中的年度报告)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("raw_dir", metavar="RAW_DIR", type=Path,
                   help="folder of reports, searched recursively; manifest.csv / agencies.csv in it are metadata")
    a.add_argument("--out", dest="out_dir", metavar="OUT_DIR", type=Path, default=Path("data/processed"),
                   help="output folder (default: data/processed); its previous content is replaced atomically")
    a.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                   help="local worker processes for reading documents (default: number of cores)")
    a.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run per-document work on an existing Dask distributed cluster (e.g. tcp://10.0.0.5:8786)")
    a.add_argument("--fail-on", choices=("error", "warning"), default=None,
                   help="exit with status 3 when a finding of this severity or worse exists")
    a.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    s = sub.add_parser("synth", help="generate reports with known numbers (生成已知数值的样例报告)")
    s.add_argument("--sample", action="store_true", help="write the embedded sample inbox")
    s.add_argument("--out", dest="out_dir", type=Path, default=Path("data/raw"), help="where to write the documents")
    s.add_argument("--truth", dest="truth_dir", type=Path, default=None,
                   help="where to write the truth JSONs (default: a 'sample-truth' folder beside --out)")
    return p


def cmd_audit(args) -> int:
    from .batch import discover, frames_from, read_agencies, read_manifest, run_documents

    raw_dir: Path = args.raw_dir
    if not raw_dir.is_dir():
        print(f"错误：输入目录不存在：{raw_dir} | error: RAW_DIR is not a directory: {raw_dir}", file=sys.stderr)
        return EXIT_USAGE
    t0 = time.monotonic()
    files = discover(raw_dir)
    manifest = read_manifest(raw_dir)
    results = run_documents(files, manifest, args.workers, args.scheduler, progress=not args.quiet)
    frames = frames_from(results)

    from .validate import run as validate

    findings, indicators, reports = validate(frames["reports"], frames["cells"], frames["sections"],
                                             read_agencies(raw_dir))
    frames.update(findings=findings, indicators=indicators, reports=reports)

    from .report import write_outputs

    try:
        write_outputs(args.out_dir, frames)
    except OSError as exc:
        print(f"错误：无法写入输出目录 {args.out_dir}：{exc} | error: cannot write OUT_DIR: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if not args.quiet:
        _summary(frames, args.out_dir, time.monotonic() - t0)
    if args.fail_on:
        worst = {"error": ("error",), "warning": ("error", "warning")}[args.fail_on]
        if len(findings) and findings["severity"].isin(worst).any():
            return EXIT_FINDINGS
    return EXIT_OK


def _summary(frames, out_dir: Path, seconds: float) -> None:
    r, f = frames["reports"], frames["findings"]
    status = r["status"].value_counts().to_dict() if len(r) else {}
    sev = f["severity"].value_counts().to_dict() if len(f) else {}
    lines = [
        f"审核完成 / audit finished in {seconds:.1f}s",
        f"  报告 reports: {len(r)}  (正常 ok {status.get('ok', 0)}, 部分 partial {status.get('partial', 0)}, "
        f"失败 failed {status.get('failed', 0)})",
        f"  问题 findings: 错误 error {sev.get('error', 0)}, 警告 warning {sev.get('warning', 0)}, 提示 info {sev.get('info', 0)}",
        f"  输出 outputs: {out_dir}/ (audit.xlsx, findings.csv, cells.csv, charts/)",
    ]
    print("\n".join(lines), file=sys.stderr)


def cmd_synth(args) -> int:
    if not args.sample:
        print("synth: only --sample is available in this version", file=sys.stderr)
        return EXIT_USAGE
    from .synth import write_sample_inbox

    truth = args.truth_dir or args.out_dir.parent / "sample-truth"
    write_sample_inbox(args.out_dir, truth)
    print(f"sample inbox written to {args.out_dir} (truth in {truth})", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "audit":
        return cmd_audit(args)
    if args.command == "synth":
        return cmd_synth(args)
    parser.print_help()
    return EXIT_USAGE
