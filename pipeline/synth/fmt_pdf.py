"""Text-layer PDFs (`pdf`): the report's Word-style HTML (fmt_html.render_html) printed by headless Chromium, or
converted by LibreOffice when Chromium is absent.

Options (besides those of `html_word`, e.g. t2_layout, label_breaks, chrome):
- `page_size`: a CSS `@page` size: "A4" (default), "A5 landscape", "210mm 150mm" ... A short page splits 表三 (and
  表四) across pages, as many real reports are printed.
- `borderless=True`: the tables are drawn without any ruling line (no borders at all), so a reader cannot find
  them by their lines.
- `vertical_headers=True`: 表四's column headers are printed one character per line (结/果/维/持).
- `engine`: "auto" (Chromium, else LibreOffice), "chromium" or "libreoffice". LibreOffice ignores CSS borders,
  `@page` sizes and "do not break a row" rules: it refuses `borderless` and page sizes, and may cut a row (label
  included) over a page break — the committed fixtures are made with Chromium.

The PDF's creation date makes bytes differ between runs; the extracted text does not. Neither Chromium nor
LibreOffice is needed by the tests: `write_pdf_fixtures(dir)` renders the fixture set once and it is committed
(tests/fixtures/pdf/). Debian: `apt-get install -y chromium fonts-wqy-microhei` (the CJK font is found through
fontconfig).
"""
from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipeline.synth.fmt_html import SPAN_CELL, esc, render_html
from pipeline.synth.numbers import Report

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SOFFICE_NAMES = ("soffice", "libreoffice")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--no-pdf-header-footer", "--disable-pdf-tagging", "--disable-extensions", "--mute-audio")
TIMEOUT = 120


class PdfRendererUnavailable(RuntimeError):
    """Neither headless Chromium nor LibreOffice is installed."""


def find_renderer(engine: str = "auto") -> tuple[str, str]:
    """(engine name, executable path) or PdfRendererUnavailable."""
    if engine not in ("auto", "chromium", "libreoffice"):
        raise ValueError(f"unknown PDF engine {engine!r}: auto, chromium or libreoffice")
    if engine in ("auto", "chromium"):
        for n in CHROMIUM_NAMES:
            p = shutil.which(n)
            if p:
                return "chromium", p
    if engine in ("auto", "libreoffice"):
        for n in SOFFICE_NAMES:
            p = shutil.which(n)
            if p:
                return "libreoffice", p
    wanted = {"auto": "headless Chromium or LibreOffice", "chromium": "headless Chromium",
              "libreoffice": "LibreOffice"}[engine]
    raise PdfRendererUnavailable(
        f"rendering PDFs needs {wanted}, and none was found on PATH "
        f"(looked for {', '.join(CHROMIUM_NAMES + SOFFICE_NAMES)}); on Debian: "
        "`apt-get install -y chromium fonts-wqy-microhei` (or libreoffice-writer-nogui). "
        "The tests use the committed fixtures in tests/fixtures/pdf/ and need neither.")


def _extra_css(page_size: str, borderless: bool) -> str:
    css = [f"@page {{ size: {page_size}; margin: 18mm 16mm 18mm 16mm; }}",
           f"@page WordSection1 {{ size: {page_size}; margin: 18mm 16mm 18mm 16mm; }}",
           "body { margin: 0; }",
           # rows of a table may not be cut in half by a page break (as Word does by default)
           "tr { page-break-inside: avoid; break-inside: avoid; }"]
    if borderless:
        css.append("table, tr, td, th { border: none !important; border-width: 0 !important; }")
    return "<style>\n" + "\n".join(css) + "\n</style>\n"


_TD = re.compile(r"(<td[^>]*>)(.*?)(</td>)", re.S)
_TAG = re.compile(r"<[^>]+>")


def _vertical_t4_headers(html: str, rep: Report) -> str:
    """Rewrite 表四's column header cells as one character per line (the last table of the document is 表四),
    whatever the label_breaks style put in them."""
    start = html.rfind("<table class=MsoNormalTable")
    if start < 0:
        return html
    end = html.find("</table>", start)
    labels = {c.label for c in rep.template.t4_cols}

    def one(m: re.Match) -> str:
        text = htmllib.unescape(_TAG.sub("", m.group(2))).strip()
        if text not in labels:
            return m.group(0)
        vertical = "<br/>".join(esc(ch) for ch in text)
        inner = ("<p class=MsoNormal align=center style='text-align:center;line-height:15.0pt;"
                 "mso-line-height-rule:exactly'>" + SPAN_CELL.format(vertical) + "</p>")
        return m.group(1) + "\n  " + inner + "\n  " + m.group(3)

    return html[:start] + _TD.sub(one, html[start:end]) + html[end:]


def build_html(rep: Report, blocks: list, *, page_size: str = "A4", borderless: bool = False,
               vertical_headers: bool = False, **html_options) -> str:
    html_options = {k: v for k, v in html_options.items() if k not in ("encoding", "engine")}
    html = render_html(rep, blocks, encoding="utf-8", **html_options).decode("utf-8")
    if borderless:
        html = html.replace('border="1"', 'border="0"')
    if vertical_headers:
        html = _vertical_t4_headers(html, rep)
    i = html.find("</head>")
    return html[:i] + _extra_css(page_size, borderless) + html[i:]


def html_to_pdf(html: str, engine: str = "auto") -> bytes:
    name, exe = find_renderer(engine)
    with tempfile.TemporaryDirectory(prefix="synth-pdf-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(html, encoding="utf-8")
        env = dict(os.environ, HOME=tmp)  # both write profile/config files under HOME
        if name == "chromium":
            out = Path(tmp) / "report.pdf"
            cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", src.as_uri()]
        else:
            out = Path(tmp) / "report.pdf"
            cmd = [exe, "--headless", "--norestore", "--nologo", f"-env:UserInstallation={Path(tmp, 'lo').as_uri()}",
                   "--convert-to", "pdf", "--outdir", tmp, str(src)]
        proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, env=env, stdin=subprocess.DEVNULL)
        if not out.exists() or out.stat().st_size == 0:
            raise RuntimeError(f"{name} did not write a PDF (exit {proc.returncode}): "
                               f"{proc.stderr.decode('utf-8', 'replace')[-800:]}")
        return out.read_bytes()


def render_pdf(rep: Report, blocks: list, *, page_size: str = "A4", borderless: bool = False,
               vertical_headers: bool = False, engine: str = "auto", **options) -> bytes:
    name, _ = find_renderer(engine)
    if name == "libreoffice" and (borderless or page_size.strip().upper() != "A4"):
        raise PdfRendererUnavailable(
            "borderless tables and page sizes other than A4 need headless Chromium: LibreOffice ignores CSS "
            "borders, @page sizes and row break rules (`apt-get install -y chromium fonts-wqy-microhei`)")
    html = build_html(rep, blocks, page_size=page_size, borderless=borderless, vertical_headers=vertical_headers,
                      **options)
    return html_to_pdf(html, engine if engine != "auto" else name)


# --- the committed fixture set --------------------------------------------------------------------------------

# (file stem, agency, year, template, seed, render options, defects)
FIXTURES = [
    ("gb2021-plain", "青禾市交通运输局", 2023, "gb2021", 901, {}, ()),
    ("gb2021-split", "白鹭县发展和改革局", 2022, "gb2021", 902, {"page_size": "A5 landscape", "t2_layout": "split"}, ()),
    ("gb2021-borderless", "云岚区司法局", 2023, "gb2021", 903, {"borderless": True},
     (("blank_cells", {"pattern": "legal_person"}),)),
    ("gb2019", "青禾市生态环境局", 2020, "gb2019", 904, {}, ()),
    ("gb2021-t3-defect", "白鹭县人民政府", 2023, "gb2021", 905, {},
     (("t3_row_total", {"row": "t3.new_received", "k": 3}), ("t3_carry", {}))),
    ("gb2021-vertical", "云岚区澄溪街道办事处", 2022, "gb2021", 906,
     {"vertical_headers": True, "page_size": "A5 landscape", "label_breaks": "p"}, ()),
]


SPECIAL_SOURCE = "gb2019"  # the fixture the encrypted copies are made from


def write_encrypted_copies(src: Path, out_dir: Path) -> list[Path]:
    """With qpdf (Debian `qpdf`): `encrypted-user.pdf` (AES-256, opens only with the password "secret") and
    `owner-only.pdf` (AES-256 with an owner password only: anyone can open it, printing and copying are
    restricted), both from `src`. Returns [] when qpdf is not installed."""
    exe = shutil.which("qpdf")
    if not exe:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    user, owner = out_dir / "encrypted-user.pdf", out_dir / "owner-only.pdf"
    subprocess.run([exe, "--encrypt", "secret", "owner-secret", "256", "--", str(src), str(user)], check=True,
                   capture_output=True, timeout=TIMEOUT)
    subprocess.run([exe, "--encrypt", "", "owner-secret", "256", "--print=none", "--extract=n", "--modify=none",
                    "--", str(src), str(owner)], check=True, capture_output=True, timeout=TIMEOUT)
    return [user, owner]


def write_pdf_fixtures(out_dir, engine: str = "auto") -> list[Path]:
    """Render the fixture set into out_dir: `<stem>.pdf` and `<stem>.json` (the truth) each, and (with qpdf) the
    encrypted copies into out_dir/special/. Returns the PDFs written."""
    from pipeline.synth import make_report, render

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, agency, year, tid, seed, opts, defects in FIXTURES:
        rep = make_report(agency, year, tid, seed=seed, defects=defects)
        data, truth = render(rep, "pdf", file=f"{stem}.pdf", engine=engine, **opts)
        truth["render_options"] = {k: v for k, v in opts.items()}
        (out / f"{stem}.pdf").write_bytes(data)
        (out / f"{stem}.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written.append(out / f"{stem}.pdf")
    written += write_encrypted_copies(out / f"{SPECIAL_SOURCE}.pdf", out / "special")
    return written


def _main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Render the PDF fixture set (needs Chromium or LibreOffice).")
    ap.add_argument("out_dir", nargs="?", default="tests/fixtures/pdf")
    ap.add_argument("--engine", default="auto", choices=("auto", "chromium", "libreoffice"))
    a = ap.parse_args(argv)
    for p in write_pdf_fixtures(a.out_dir, a.engine):
        print(f"{p}  {p.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
