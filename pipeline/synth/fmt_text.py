"""Plain-text renderers: the .docx text dump (`txt_cells`) and the crawler page.txt (`txt_crawler`)."""
from __future__ import annotations

from pipeline.synth.numbers import Report, rng
from pipeline.synth.render import Cells, t2_tables, t3_table, t4_table, with_continuations


def _tables(rep: Report, which: str, cells: Cells, t2_layout: str, breaks: bool):
    if which == "t2":
        return t2_tables(rep, cells, split=(t2_layout == "split"), breaks=breaks)
    if which == "t3":
        return [t3_table(rep, cells, breaks=breaks)]
    return [t4_table(rep, cells, breaks=breaks)]


# --- txt_cells ---------------------------------------------------------------------------------------------------

def render_cells(rep: Report, blocks: list, *, label_breaks: bool = True, junk: bool = True,
                 t2_layout: str = "single", seed=None, **_ignored) -> bytes:
    """Like a .docx → text dump (hongqiao-sfj-2021.txt): paragraphs one per line; every table cell on its own line
    starting with a TAB (a cell's internal line break continues on the next line without a TAB); vertically merged
    cells as empty cells; rows separated by an empty line, one more empty line after the table."""
    cells = Cells(rep, rep.seed if seed is None else seed, junk=junk)
    lines: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("title", "p", "h2"):
            lines.append(b[1])
        elif kind == "h1":
            lines.append(b[2])
        elif kind == "sign":
            lines.extend(b[1])
        elif kind == "table":
            for table in _tables(rep, b[1], cells, t2_layout, label_breaks):
                for row in with_continuations(table):
                    for cell in row:
                        text = "" if cell is None else cell.text
                        lines.append("\t" + text)
                    lines.append("")
                lines.append("")
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- txt_crawler -------------------------------------------------------------------------------------------------

def _number_prefixes(s: str, pos: int) -> list[str]:
    """Every number token (no leading zeros, optional sign and decimals) that starts at s[pos]."""
    out = []
    i = pos
    if i < len(s) and s[i] in "+-":
        i += 1
    if i >= len(s) or not s[i].isdigit():
        return out
    int_ends = [i + 1] if s[i] == "0" else []
    if s[i] != "0":
        j = i
        while j < len(s) and s[j].isdigit():
            j += 1
            int_ends.append(j)
    for e in int_ends:
        out.append(s[pos:e])
        if e < len(s) and s[e] == "." and e + 1 < len(s) and s[e + 1].isdigit():
            k = e + 1
            while k < len(s) and s[k].isdigit():
                k += 1
                out.append(s[pos:k])
    return out


def _gen(s: str, pos: int, k: int):
    """All ways to read exactly k number tokens from s[pos:] to its end."""
    if k == 0:
        if pos == len(s):
            yield ()
        return
    for tok in _number_prefixes(s, pos):
        end = pos + len(tok)
        if len(s) - end < k - 1:
            break
        for rest in _gen(s, end, k - 1):
            yield (tok,) + rest


def _gen_prefix(s: str, pos: int, k: int):
    """All ways to read k number tokens starting at pos (not necessarily to the end): (tokens, end)."""
    if k == 0:
        yield (), pos
        return
    for tok in _number_prefixes(s, pos):
        for rest, end in _gen_prefix(s, pos + len(tok), k - 1):
            yield (tok,) + rest, end


def _val(tok: str):
    return float(tok) if "." in tok else int(tok)


def count_plain_splits(s: str, n: int, cap: int = 2) -> int:
    """How many ways (up to cap) the digit string s reads as n numbers (t2 rows: no identity to help)."""
    found = 0
    for _ in _gen(s, 0, n):
        found += 1
        if found >= cap:
            break
    return found


def count_sum_splits(s: str, groups: int, parts: int, cap: int = 2) -> int:
    """How many ways (up to cap) s reads as `groups` runs of parts+1 numbers where the last of each run is the sum
    of the others (t3 rows: 6 + 总计; t4: 3 groups of 4 + 总计)."""
    found = 0

    def rec(pos, g):
        nonlocal found
        if g == groups:
            if pos == len(s):
                found += 1
            return
        for toks, end in _gen_prefix(s, pos, parts):
            if any("." in t for t in toks):
                continue
            want = str(sum(int(t) for t in toks))
            if s.startswith(want, end):
                rec(end + len(want), g + 1)
                if found >= cap:
                    return

    rec(0, 0)
    return found


def render_crawler(rep: Report, blocks: list, *, seed=None, spaces: bool = True, t4_spaced: bool = False,
                   breadcrumb: bool = True, url: str | None = None, label_breaks: bool = True,
                   **_ignored) -> tuple[bytes, list]:
    """Like a crawler page.txt (pingtan-2021.txt): a header, then the whole body on ONE line with table cells run
    together. Returns (bytes, ambiguous_cells): t2 rows whose digit string splits several ways, t3 rows / the t4 run
    whose split is not unique under the row identities. Raises ValueError when a split is not recoverable at all
    (a partly blank row, or a row/group whose identity fails so that no split balances)."""
    r = rng(rep.seed if seed is None else seed, "crawler")
    cells = Cells(rep, rep.seed if seed is None else seed, junk=False)
    a = rep.agency
    pub = rep.published_at
    ym, ymd = pub[:7].replace("-", ""), pub[:10].replace("-", "")
    doc_id = 10000 + rng(rep.seed, "docid").randint(0, 89999)
    site = a.site or "www.example.gov.cn"
    url = url or f"https://{site}/zwgk/zfxxgk/zfxxgknb/{ym}/t{ymd}_{doc_id}.htm"
    header = [
        f"标题: {rep.title}",
        f"发布时间: {pub}",
        "文号: ",
        "发布机构: ",
        "栏目: 政府信息公开年报",
        f"原文链接: {url}",
        f"本地目录: zwgk/zfxxgk/zfxxgknb/{ym}/{doc_id}_{rep.title}",
        "页面链接与图片详见 links.tsv(同目录)",
        "==================== 正文 ====================",
    ]

    def sep():
        return " " if spaces and r.random() < 0.3 else ""

    ambiguous: list = []
    parts: list[str] = []
    if breadcrumb:
        parts.append(f"当前位置： 首页政务公开政府信息公开政府信息公开年报 {rep.title} 来源：{a.name} 时间：{pub} "
                     "微信 微博 QQ空间 全真版 文字版 相关链接： --> ")
    for b in blocks:
        kind = b[0]
        if kind == "title":
            continue
        if kind in ("p", "h2"):
            parts.append(b[1] + sep())
        elif kind == "h1":
            parts.append(sep() + b[2] + sep())
        elif kind == "sign":
            parts.append(" " + " ".join(b[1]))
        elif kind == "table":
            parts.append(_crawler_table(rep, b[1], cells, sep, t4_spaced, label_breaks, ambiguous))
    parts.append(" 附件下载")
    body = "".join(parts).replace("\n", "")
    return ("\n".join(header + [body]) + "\n").encode("utf-8"), ambiguous


def _crawler_table(rep, which, cells, sep, t4_spaced, label_breaks, ambiguous) -> str:
    out = []
    tables = t2_tables(rep, cells) if which == "t2" else [t3_table(rep, cells, breaks=label_breaks)] \
        if which == "t3" else [t4_table(rep, cells, breaks=label_breaks)]
    for table in tables:
        for row in table:
            labels = [c for c in row if c.kind != "value"]
            values = [c for c in row if c.kind == "value"]
            for c in labels:
                out.append(c.text.replace("\n", " " if sep() else "") + sep())
            if not values:
                continue
            texts = [v.text for v in values]
            keys = [v.key for v in values]
            filled = [t for t in texts if t != ""]
            if not filled:
                continue                         # an all-blank row prints nothing: still unambiguous
            if len(filled) != len(texts):
                raise ValueError(f"txt_crawler cannot represent a partly blank row ({keys[0][0]} {keys[0][1]})")
            if which == "t4" and t4_spaced:
                out.append(" " + " ".join(texts) + " ")
                continue
            digits = "".join(texts)
            if which == "t2":
                n = count_plain_splits(digits, len(texts))
            elif which == "t3":
                n = count_sum_splits(digits, 1, len(texts) - 1)
            else:
                n = count_sum_splits(digits, len(rep.t4), len(rep.template.t4_cols) - 1)
            if n == 0:
                raise ValueError(f"txt_crawler: {which} {keys[0][1]} cannot be split back ({digits!r}); "
                                 "use another format for reports whose row identities fail")
            if n > 1:
                ambiguous.extend(list(k) for k in keys)
            out.append(digits)
    return "".join(out) + sep()
