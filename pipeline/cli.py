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
indicators.csv, audit.xlsx (+ workbooks/ for large batches), charts/*.png/.svg, notices/*.docx (整改通知) and
index.html into OUT_DIR (replaced atomically)."""


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds, at least 0")
    return v


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if v < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
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
    a.add_argument("--timeout", metavar="SECONDS", type=_non_negative_float, default=60.0,
                   help="time limit for reading one document (default: 60); a document that takes longer is "
                        "stopped and reported as failed (one read page by page, such as a long scan, may take up "
                        "to 10 times this while it makes progress); 0 = no limit")
    a.add_argument("--max-memory", metavar="MB", type=_non_negative_int, default=2048,
                   help="memory limit of each worker process reading documents, in MB (default: 2048); a "
                        "document needing more is reported as failed; 0 = no limit")
    a.add_argument("--cache-dir", metavar="DIR", type=Path, default=None,
                   help="cache of documents already read (default: .auditor-cache beside OUT_DIR); an unchanged "
                        "document (same bytes, manifest row and pipeline version) is not read again")
    a.add_argument("--no-cache", action="store_true", help="read every document again; use and write no cache")
    a.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    s = sub.add_parser("synth", help="generate reports with known numbers (生成已知数值的样例报告)",
                       description="生成已知数值的年度报告（样例收件箱或大批量语料） | generate reports with known numbers: "
                                   "the embedded sample inbox (--sample) or a large corpus (--n)")
    s.add_argument("--sample", action="store_true", help="write the embedded sample inbox")
    s.add_argument("--n", type=_positive_int, default=None,
                   help="generate a corpus of N reports (a 市/区县/乡镇 hierarchy of agencies, one report per year)")
    s.add_argument("--formats", default="html,txt",
                   help="with --n: formats to draw from, comma-separated: html,txt,md,pdf,docx,doc,scan "
                        "(default: html,txt; pdf needs headless Chromium, doc LibreOffice)")
    s.add_argument("--years", default="2022-2024", help="with --n: report years, e.g. 2022-2024 (default) or 2020,2023")
    s.add_argument("--defect-rate", type=float, default=0.15,
                   help="with --n: share of reports with one injected defect (default: 0.15)")
    s.add_argument("--seed", type=int, default=0, help="with --n: the corpus is a function of the seed (default: 0)")
    s.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                   help="with --n: worker processes (default: number of cores)")
    s.add_argument("--out", dest="out_dir", type=Path, default=Path("data/raw"), help="where to write the documents")
    s.add_argument("--truth", dest="truth_dir", type=Path, default=None,
                   help="where to write the truth JSONs (default: a 'sample-truth' folder beside --out for --sample, "
                        "'<OUT>-truth' beside it for --n)")
    return p


def cmd_audit(args) -> int:
    from .batch import discover, read_agencies, read_manifest

    raw_dir: Path = args.raw_dir
    if not raw_dir.is_dir():
        print(f"错误：输入目录不存在：{raw_dir} | error: RAW_DIR is not a directory: {raw_dir}", file=sys.stderr)
        return EXIT_USAGE
    from .report import OutputDirError, check_out_dir

    try:
        check_out_dir(args.out_dir)
    except OutputDirError as exc:
        print(f"错误：无法写入输出目录 {args.out_dir}：{exc} | error: cannot write OUT_DIR: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    t0 = time.monotonic()
    files = discover(raw_dir)
    manifest = read_manifest(raw_dir)
    from .isolation import Limits

    limits = Limits(timeout=args.timeout or None, max_memory_mb=args.max_memory or None)
    from .cache import default_cache_dir, run_batch

    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir(args.out_dir))
    frames, _stats = run_batch(raw_dir, files, manifest, args.workers, args.scheduler, progress=not args.quiet,
                               limits=limits, cache_dir=cache_dir)

    from .validate import run as validate

    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    say(f"审核规则 / validating {len(frames['reports'])} reports ...")
    findings, indicators, reports = validate(frames["reports"], frames["cells"], frames["sections"],
                                             read_agencies(raw_dir))
    frames.update(findings=findings, indicators=indicators, reports=reports)
    from .cache import release_memory

    release_memory()        # validation's working memory back to the system before the outputs (and their forks)

    from .report import write_outputs

    try:
        write_outputs(args.out_dir, frames, progress=None if args.quiet else say, cache_dir=cache_dir)
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
    """One screen on stderr: reports read/failed, findings by severity, where every output is."""
    r, f = frames["reports"], frames["findings"]
    status = r["status"].value_counts().to_dict() if len(r) else {}
    sev = f["severity"].value_counts().to_dict() if len(f) else {}
    out = Path(out_dir).absolute()
    n_charts = len({p.stem for p in (out / "charts").glob("*.png")})
    n_notices = len(list((out / "notices").glob("*.docx")))
    n_books = len(list((out / "workbooks").glob("*.xlsx")))
    lines = [
        f"审核完成 / audit finished in {seconds:.1f}s",
        f"  报告 reports: {len(r)}  (正常 ok {status.get('ok', 0)}, 部分 partial {status.get('partial', 0)}, "
        f"失败 failed {status.get('failed', 0)})",
    ]
    if status.get("failed", 0):
        failed = r.loc[r["status"] == "failed", "source_file"].astype(str).tolist()
        more = f" 等{len(failed)}个 / {len(failed)} in all" if len(failed) > 3 else ""
        lines.append(f"  读取失败 failed: {', '.join(failed[:3])}{more}（原因见 reports.csv 的 error 列）")
    lines += [
        f"  问题 findings: 错误 error {sev.get('error', 0)}, 警告 warning {sev.get('warning', 0)}, 提示 info {sev.get('info', 0)}",
        f"  输出 outputs: {out}/",
        "    audit.xlsx 审核工作簿" + (f"；workbooks/ 各机关工作簿 {n_books} 个" if n_books else "（含每份报告的表格核对）"),
        "    findings.csv 问题清单；reports.csv 报告；indicators.csv 指标；cells.csv 单元格",
        f"    charts/ 图表 {n_charts} 张（PNG 300dpi + SVG）；notices/ 整改通知 {n_notices} 份",
        "    index.html 离线汇总页（浏览器打开）",
    ]
    print("\n".join(lines), file=sys.stderr)


def cmd_synth(args) -> int:
    if args.n is not None and args.sample:
        print("错误：--sample 与 --n 只能选一个 | error: use either --sample or --n", file=sys.stderr)
        return EXIT_USAGE
    if args.n is not None:
        return _synth_volume(args)
    if not args.sample:
        print("错误：请指定 --sample（样例收件箱）或 --n N（N 份报告） | error: give --sample (the sample inbox) or "
              "--n N (a corpus of N reports)", file=sys.stderr)
        return EXIT_USAGE
    from .synth import write_sample_inbox

    truth = args.truth_dir or args.out_dir.parent / "sample-truth"
    write_sample_inbox(args.out_dir, truth)
    print(f"sample inbox written to {args.out_dir} (truth in {truth})", file=sys.stderr)
    return EXIT_OK


def _synth_volume(args) -> int:
    from .synth.volume import parse_formats, parse_years, write_volume

    try:
        parse_formats(args.formats), parse_years(args.years)
        if not 0.0 <= args.defect_rate <= 1.0:
            raise ValueError("缺陷比例应在 0 到 1 之间 | --defect-rate must be between 0 and 1")
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return EXIT_USAGE
    t0 = time.monotonic()
    last = [t0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5 or done >= total:
            last[0] = now
            print(f"生成报告 {done}/{total} ({now - t0:.0f}s)", file=sys.stderr, flush=True)

    try:
        summary = write_volume(args.out_dir, args.n, args.formats, args.years, args.defect_rate, args.seed,
                               args.truth_dir, args.workers, progress)
    except Exception as exc:  # e.g. no PDF renderer installed, disk full
        print(f"错误：生成失败：{exc} | error: generation failed: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    fmt = ", ".join(f"{k} {v}" for k, v in summary["by_format"].items())
    print(f"已生成 {summary['documents']} 份报告（{summary['agencies']} 个机关，{len(summary['years'])} 个年度；"
          f"{summary['with_defects']} 份含注入缺陷） / {summary['documents']} reports written in "
          f"{time.monotonic() - t0:.1f}s: {fmt}\n"
          f"  文档 documents: {summary['out']} (manifest.csv, agencies.csv)\n  真值 truth: {summary['truth']}",
          file=sys.stderr)
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
