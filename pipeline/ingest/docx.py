"""Word (DOCX) → Document: body paragraphs and tables in reading order, merged cells expanded into true grids.

The package is opened with python-docx (which parses with lxml, entities not resolved, no network); the body is then
walked as XML (`w:p`, `w:tbl`, content controls `w:sdt`, `w:customXml`) so that paragraphs and tables come out in
document order. A table becomes a `Grid`: `w:gridSpan` (and legacy `w:hMerge`) spans horizontally, `w:vMerge`
restart/continue spans vertically; every grid position of one `w:tc` (and of the cells that continue it) shares one
origin id; positions no cell covers (`w:gridBefore`/`w:gridAfter`, short rows) are `PAD`.

Tables nested inside a table cell are emitted as their own grids right after their parent (their text is not part
of the parent cell's text). A one-column table is a layout frame, not a data table: its content is read in order
as if it were body text (paragraphs as text blocks, tables inside it as grids).

Before python-docx sees the bytes, the zip directory is checked (sizes and compression ratios as declared, which
also bound what zipfile will decompress): a zip bomb is refused with a clear bilingual message. So is an XML part
that declares a DTD (entity tricks: billion laughs, external entities); python-docx's own parser resolves no
entities and reaches no network in any case.
"""
from __future__ import annotations

import io
import re
import zipfile

from ..document import PAD, Block, Grid

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
M_NS = "http://schemas.openxmlformats.org/officeDocument/2006/math"


def _w(tag: str) -> str:
    return f"{{{W_NS}}}{tag}"


P, TBL, TR, TC, R, T = _w("p"), _w("tbl"), _w("tr"), _w("tc"), _w("r"), _w("t")
SDT, SDT_CONTENT, CUSTOM_XML = _w("sdt"), _w("sdtContent"), _w("customXml")
TC_PR, TR_PR, GRID_SPAN, V_MERGE, H_MERGE = _w("tcPr"), _w("trPr"), _w("gridSpan"), _w("vMerge"), _w("hMerge")
GRID_BEFORE, GRID_AFTER, TBL_GRID, GRID_COL = _w("gridBefore"), _w("gridAfter"), _w("tblGrid"), _w("gridCol")
TXBX = _w("txbxContent")
VAL = _w("val")
MC_FALLBACK = f"{{{MC_NS}}}Fallback"
M_OMATH, M_OMATH_PARA, M_T = f"{{{M_NS}}}oMath", f"{{{M_NS}}}oMathPara", f"{{{M_NS}}}t"

# Zip-bomb limits, on the sizes the zip directory declares (zipfile never decompresses past a declared size).
MAX_TOTAL_UNCOMPRESSED = 200 * 1024 * 1024
MAX_XML_PART = 64 * 1024 * 1024          # a single XML part lxml would have to parse
MAX_RATIO = 100                          # uncompressed / compressed, for XML parts large enough to matter
MAX_RATIO_MEDIA = 1000                   # the same for other members (a mostly-white BMP can exceed 100:1)
RATIO_MIN_SIZE = 1024 * 1024             # small members cannot hurt whatever their ratio
MAX_MEMBERS = 10000
MAX_SPAN = 200                           # a cell spanning more grid columns than this is clipped
MAX_GRID_COLS = 1000
MAX_GRID_POSITIONS = 2_000_000           # all tables of one document, expanded (a real report has a few thousand)
SLIVER_TWIPS = 30                        # a grid column narrower than this (0.5 mm) is a rounding artefact

_WS = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u2009\u200b\u3000]+")
_TITLE_HINT = re.compile(r"年\s*度?\s*报\s*告|年\s*报")

# text-bearing run children
_BR, _CR, _TAB, _PTAB = _w("br"), _w("cr"), _w("tab"), _w("ptab")
_NB_HYPHEN, _RPR, _VANISH = _w("noBreakHyphen"), _w("rPr"), _w("vanish")
# inline wrappers whose content is part of the paragraph text
_INLINE_WRAPPERS = {_w("hyperlink"), _w("ins"), _w("smartTag"), CUSTOM_XML, _w("fldSimple"), SDT, SDT_CONTENT,
                    _w("moveTo"), _w("bdo"), _w("dir")}
# inline content that is not part of the visible text (deleted revisions, properties)
_INLINE_SKIP = {_w("del"), _w("moveFrom"), _w("pPr"), _w("sdtPr"), _w("sdtEndPr"), _w("customXmlPr"),
                _w("smartTagPr")}

_MACRO_TYPES = (b"application/vnd.ms-word.document.macroEnabled.main+xml",
                b"application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
                b"application/vnd.ms-word.template.macroEnabledTemplate.main+xml")
_DOCX_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


class DocxRejected(ValueError):
    """The file is not a Word document python-docx can safely open (zip bomb, not a zip, no main document)."""


def _clean(text: str) -> str:
    lines = [_WS.sub(" ", ln).strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


# --- safety ------------------------------------------------------------------------------------------------------

def check_zip(data: bytes) -> zipfile.ZipFile:
    """Open the zip and refuse implausible member sizes before anything decompresses them."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise DocxRejected(f"不是有效的Word（DOCX）文件（压缩包损坏） | Not a valid Word (DOCX) file: "
                           f"broken zip ({exc})") from None
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise DocxRejected(f"Word文件包含的部件过多（{len(infos)}个），疑似压缩炸弹，已拒绝读取 | Refused: the DOCX zip "
                           f"has {len(infos)} members (limit {MAX_MEMBERS}), a likely zip bomb")
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_UNCOMPRESSED:
        got, limit = f"{total / 2 ** 20:.1f} MB", f"{MAX_TOTAL_UNCOMPRESSED / 2 ** 20:.1f} MB"
        raise DocxRejected(f"Word文件解压后过大（{got}，上限{limit}），疑似压缩炸弹，已拒绝读取 | Refused: the DOCX "
                           f"would expand to {got} (limit {limit}), a likely zip bomb")
    for i in infos:
        is_xml = i.filename.lower().endswith((".xml", ".rels"))
        limit = MAX_RATIO if is_xml else MAX_RATIO_MEDIA
        if i.file_size >= RATIO_MIN_SIZE and i.file_size > limit * max(i.compress_size, 1):
            ratio = i.file_size / max(i.compress_size, 1)
            raise DocxRejected(f"Word文件中的部件 {i.filename} 压缩比异常（{ratio:.0f}:1，上限{limit}:1），"
                               f"疑似压缩炸弹，已拒绝读取 | Refused: DOCX member {i.filename} is compressed "
                               f"{ratio:.0f}:1 (limit {limit}:1), a likely zip bomb")
        if is_xml and i.file_size > MAX_XML_PART:
            raise DocxRejected(f"Word文件中的XML部件 {i.filename} 过大（{i.file_size / 2 ** 20:.0f} MB），已拒绝读取 | "
                               f"Refused: DOCX XML part {i.filename} is {i.file_size / 2 ** 20:.0f} MB "
                               f"(limit {MAX_XML_PART // 2 ** 20} MB)")
    return zf


def _prolog_has_doctype(head: bytes) -> bool:
    """Whether an XML part declares a DOCTYPE (before its root element). `head` is the part's first bytes."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", "ignore").encode("utf-8")
    elif head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    i, n = 0, len(head)
    while i < n:
        while i < n and head[i:i + 1].isspace():
            i += 1
        if head.startswith(b"<?", i):
            j = head.find(b"?>", i)
        elif head.startswith(b"<!--", i):
            j = head.find(b"-->", i)
        else:
            return head[i:i + 9].upper() == b"<!DOCTYPE"
        if j < 0:
            return False
        i = j + 2
    return False


def check_no_dtd(zf: zipfile.ZipFile) -> None:
    """Refuse XML parts that declare a DTD. Word and LibreOffice never write one; a DOCTYPE in a DOCX is an entity
    trick (billion laughs, external entities pointing at local files or URLs) and nothing is parsed from such a file."""
    for info in zf.infolist():
        if not info.filename.lower().endswith((".xml", ".rels")):
            continue
        with zf.open(info) as fh:
            head = fh.read(256 * 1024)
        if _prolog_has_doctype(head):
            raise DocxRejected(f"Word文件的XML部件 {info.filename} 含有DTD（实体声明），可能是恶意构造的文件，已拒绝读取 | "
                               f"Refused: DOCX XML part {info.filename} declares a DTD (entity declarations), which "
                               "Word never writes: a hostile file")


def _as_docx_package(data: bytes, zf: zipfile.ZipFile) -> bytes:
    """A macro-enabled document (.docm) or a template (.dotx/.dotm) read as a plain .docx: python-docx refuses
    their main-part content type, so it is rewritten in [Content_Types].xml (nothing else changes)."""
    try:
        ct = zf.read("[Content_Types].xml")
    except KeyError:
        return data
    if not any(t in ct for t in _MACRO_TYPES):
        return data
    for t in _MACRO_TYPES:
        ct = ct.replace(t, _DOCX_MAIN)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in zf.infolist():
            blob = ct if info.filename == "[Content_Types].xml" else zf.read(info)
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)   # writestr would mutate `info`
            copy.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(copy, blob)
    return out.getvalue()


# --- text ----------------------------------------------------------------------------------------------------------

def _hidden(run) -> bool:
    rpr = run.find(_RPR)
    if rpr is None:
        return False
    v = rpr.find(_VANISH)
    return v is not None and v.get(VAL, "true").lower() not in ("0", "false", "off")


def _inline_text(el, parts: list[str], boxes: list) -> None:
    """Visible text of a paragraph's inline content; text boxes met on the way are collected in `boxes`."""
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag in _INLINE_SKIP:
            continue
        if tag == R:
            if _hidden(child):
                continue
            for x in child:
                xt = x.tag
                if xt == T:
                    parts.append(x.text or "")
                elif xt in (_TAB, _PTAB):
                    parts.append("\t")
                elif xt in (_BR, _CR):
                    parts.append("\n")
                elif xt == _NB_HYPHEN:
                    parts.append("-")
                elif isinstance(xt, str) and xt != _RPR:
                    _collect_boxes(x, boxes)   # drawings / VML pictures / alternate content with text boxes
        elif tag in _INLINE_WRAPPERS:
            _inline_text(child, parts, boxes)
        elif tag in (M_OMATH, M_OMATH_PARA):
            parts.append("".join(t.text or "" for t in child.iter(M_T)))
        elif tag == f"{{{MC_NS}}}AlternateContent":
            _collect_boxes(child, boxes)


def _collect_boxes(el, boxes: list) -> None:
    """Text box contents under el (the mc:Fallback copy of an mc:Choice is skipped)."""
    stack = [el]
    while stack:
        e = stack.pop()
        for c in reversed(list(e)):
            if not isinstance(c.tag, str) or c.tag == MC_FALLBACK:
                continue
            if c.tag == TXBX:
                boxes.append(c)
            else:
                stack.append(c)


def paragraph_text(p) -> tuple[str, list]:
    """(raw text of a w:p with line breaks as '\\n', the text box containers it anchors)."""
    parts: list[str] = []
    boxes: list = []
    _inline_text(p, parts, boxes)
    return "".join(parts), boxes


def _block_children(container):
    """Block-level children (w:p / w:tbl) of a body, cell, content control or text box, in order."""
    for child in container:
        tag = child.tag
        if tag in (P, TBL):
            yield child
        elif tag == SDT:
            content = child.find(SDT_CONTENT)
            if content is not None:
                yield from _block_children(content)
        elif tag == CUSTOM_XML:
            yield from _block_children(child)


def _wrapped(container, tag):
    """Children with `tag` of a table or row, looking through w:sdt / w:customXml wrappers."""
    for child in container:
        if child.tag == tag:
            yield child
        elif child.tag == SDT:
            content = child.find(SDT_CONTENT)
            if content is not None:
                yield from _wrapped(content, tag)
        elif child.tag == CUSTOM_XML:
            yield from _wrapped(child, tag)


# --- tables --------------------------------------------------------------------------------------------------------

def _int_val(el, default: int = 1) -> int:
    if el is None:
        return default
    try:
        return int(str(el.get(VAL, default)).strip())
    except ValueError:
        return default


def _twips(v: str) -> int:
    try:
        return int(float(v))
    except ValueError:
        return 10 ** 6   # unknown unit: never a sliver


def _merge_val(el) -> str | None:
    """'restart' | 'continue' | None (no merge element). A w:vMerge without w:val means continue."""
    if el is None:
        return None
    v = (el.get(VAL) or "continue").strip().lower()
    return "restart" if v == "restart" else "continue"


def _cell_content(tc) -> tuple[str, list]:
    """(cell text: its paragraphs joined with '\\n', nested w:tbl elements in order)."""
    lines: list[str] = []
    nested: list = []
    for el in _block_children(tc):
        if el.tag == TBL:
            nested.append(el)
        else:
            text, _boxes = paragraph_text(el)
            lines.append(text)
    return _clean("\n".join(lines)), nested


def table_grid(tbl, source: str, budget: list[int] | None = None) -> tuple[Grid, list]:
    """Expand one w:tbl into a true grid. Returns (grid, nested w:tbl elements in document order).

    `budget` ([grid positions left]) is shared by all tables of a document: a small hostile XML with huge spans
    must not expand into hundreds of millions of grid positions."""
    budget = budget if budget is not None else [MAX_GRID_POSITIONS]
    grid_cols = tbl.find(TBL_GRID)
    widths = [_twips(g.get(_w("w"), "")) for g in (grid_cols.findall(GRID_COL) if grid_cols is not None else [])]
    width = len(widths)
    rows = [tr for tr in _wrapped(tbl, TR)
            if not (tr.find(TR_PR) is not None and tr.find(TR_PR).find(_w("del")) is not None)]
    occ: list[list[int]] = []          # origin id per grid position (PAD where no cell)
    texts: dict[int, list[str]] = {}   # origin id → texts (the origin's first, continuations' appended)
    nested_all: list = []
    vmerge_open: dict[int, bool] = {}  # origin id → it was started by / continued with a vMerge
    next_id = 0
    for r, tr in enumerate(rows):
        row: list[int] = []
        trpr = tr.find(TR_PR)
        before = min(max(_int_val(trpr.find(GRID_BEFORE), 0), 0), MAX_GRID_COLS) if trpr is not None else 0
        row.extend([PAD] * before)
        for tc in _wrapped(tr, TC):
            if len(row) >= MAX_GRID_COLS:
                break
            tcpr = tc.find(TC_PR)
            span = _int_val(tcpr.find(GRID_SPAN)) if tcpr is not None else 1
            span = max(1, min(span, MAX_SPAN, MAX_GRID_COLS - len(row)))
            vm = _merge_val(tcpr.find(V_MERGE)) if tcpr is not None else None
            hm = _merge_val(tcpr.find(H_MERGE)) if tcpr is not None else None
            text, nested = _cell_content(tc)
            nested_all.extend(nested)
            c = len(row)
            oid = None
            if vm == "continue" and r > 0:
                above = occ[r - 1][c:c + span] if c < len(occ[r - 1]) else []
                if len(above) == span and above[0] != PAD and len(set(above)) == 1 and vmerge_open.get(above[0]):
                    oid = above[0]
            if oid is None and hm == "continue" and row and row[-1] != PAD:
                oid = row[-1]
            if oid is None:
                oid = next_id
                next_id += 1
                texts[oid] = []
            if text:
                texts[oid].append(text)
            if vm is not None:
                vmerge_open[oid] = True
            row.extend([oid] * span)
        occ.append(row)
        budget[0] -= max(len(row), width)
        if budget[0] < 0:
            raise DocxRejected(f"Word文件中的表格展开后过大（超过{MAX_GRID_POSITIONS}个单元格位置），已拒绝读取 | "
                               f"Refused: the DOCX tables expand to more than {MAX_GRID_POSITIONS} grid positions")
    n_cols = max([width] + [len(r) for r in occ]) if occ else 0
    n_cols = min(n_cols, MAX_GRID_COLS)
    origin = [(r + [PAD] * (n_cols - len(r)))[:n_cols] for r in occ]
    origin = _drop_sliver_columns(origin, widths)
    joined = {oid: "\n".join(parts) for oid, parts in texts.items()}
    cells = [[joined[o] if o != PAD else "" for o in r] for r in origin]
    return Grid(cells=cells, origin=origin, source=source), nested_all


def _drop_sliver_columns(origin: list[list[int]], widths: list[int]) -> list[list[int]]:
    """Drop a hair-thin grid column (w:gridCol narrower than SLIVER_TWIPS) that every row's cell there shares with
    a neighbouring column: it exists only because cell edges were rounded differently in different rows (typical
    of .doc files and their conversions). No cell is lost; the grid becomes the one the author drew."""
    if not origin or len(widths) != len(origin[0]):
        return origin
    n = len(widths)
    drop = set()
    for c in range(n):
        if widths[c] >= SLIVER_TWIPS:
            continue
        if all((c > 0 and c - 1 not in drop and row[c] == row[c - 1]) or (c + 1 < n and row[c] == row[c + 1])
               for row in origin):
            drop.add(c)
    if not drop:
        return origin
    return [[o for c, o in enumerate(row) if c not in drop] for row in origin]


def _flat(grid: Grid) -> str:
    return "\n".join(" ".join(dict.fromkeys(c for c in row if c)) for row in grid.cells)


# --- document ------------------------------------------------------------------------------------------------------

_CORE_NS = {"cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
            "dc": "http://purl.org/dc/elements/1.1/", "dcterms": "http://purl.org/dc/terms/"}
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_ISO_DAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")


def core_properties(zf: zipfile.ZipFile) -> dict:
    """title, author, created, modified (YYYY-MM-DD) from docProps/core.xml, read directly: python-docx does not
    know the relationship type LibreOffice and older Word write ('.../officedocument/2006/relationships/metadata/
    core-properties') and would invent defaults ('Word Document', modified = now) instead."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    name = None
    try:
        rels = etree.fromstring(zf.read("_rels/.rels"), parser)
        for rel in rels.iter(f"{{{_REL_NS}}}Relationship"):
            if (rel.get("Type") or "").lower().endswith("/metadata/core-properties"):
                name = (rel.get("Target") or "").lstrip("/")
                break
    except (KeyError, etree.XMLSyntaxError, ValueError):
        pass
    if not name or name not in zf.namelist():
        return {}
    try:
        root = etree.fromstring(zf.read(name), parser)
    except (etree.XMLSyntaxError, ValueError):
        return {}
    meta = {}
    for key, path in (("title", "dc:title"), ("author", "dc:creator")):
        el = root.find(path, _CORE_NS)
        if el is not None and (el.text or "").strip():
            meta[key] = el.text.strip()
    for key, path in (("created", "dcterms:created"), ("modified", "dcterms:modified")):
        el = root.find(path, _CORE_NS)
        m = _ISO_DAY.match(el.text or "") if el is not None else None
        if m:
            meta[key] = m.group(1)
    return meta


def _open(data: bytes):
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    zf = check_zip(data)
    check_no_dtd(zf)
    data = _as_docx_package(data, zf)
    try:
        return docx.Document(io.BytesIO(data)), zf
    except PackageNotFoundError as exc:
        raise DocxRejected(f"不是有效的Word（DOCX）文件 | Not a valid Word (DOCX) file: {exc}") from None
    except KeyError as exc:
        raise DocxRejected(f"Word文件缺少必要的部件 {exc} | The DOCX package lacks a required part: {exc}") from None
    except ValueError as exc:
        raise DocxRejected(f"不是Word文档（DOCX）的正文部件 | Not a Word (DOCX) main document: {exc}") from None


def parse_docx(data: bytes) -> tuple[list[Block], dict, str]:
    """Returns (blocks, metadata, title).

    meta: `title`, `author`, `created`, `modified` (ISO dates, YYYY-MM-DD) from the core properties, when set.
    `created`/`modified` are when the file was edited, not when the report was published: they are kept under
    those names only. title: the report title as printed at the top of the body (its first lines, before any table,
    when they name a 年度报告), else the core-properties title.
    """
    document, zf = _open(data)
    meta = core_properties(zf)

    blocks: list[Block] = []
    counters = {"table": 0, "para": 0}
    budget = [MAX_GRID_POSITIONS]

    def emit_text(raw: str):
        t = _clean(raw)
        if not t:
            return
        counters["para"] += 1
        for ln in t.split("\n"):
            blocks.append(Block(kind="text", text=ln, location=f"Word正文第{counters['para']}段"))

    def walk(container, depth=0):
        for el in _block_children(container):
            if el.tag == P:
                text, boxes = paragraph_text(el)
                emit_text(text)
                if depth < 8:
                    for box in boxes:
                        walk(box, depth + 1)
            else:
                table(el, depth)

    def table(tbl, depth):
        if depth > 16:  # absurd nesting: a hostile file, not a report
            return
        probe, nested = table_grid(tbl, "", budget)
        if probe.n_cols <= 1:
            # a layout frame: read its cells' content in order, as body text
            for tr in _wrapped(tbl, TR):
                for tc in _wrapped(tr, TC):
                    walk(tc, depth + 1)
            return
        counters["table"] += 1
        probe.source = f"Word表格{counters['table']}"
        if any(c for row in probe.cells for c in row):
            blocks.append(Block(kind="table", text=_flat(probe), grid=probe, location=probe.source))
        for inner in nested:
            table(inner, depth + 1)

    walk(document.element.body)

    title = ""
    for i, b in enumerate(blocks[:6]):
        if b.kind != "text":
            break
        if _TITLE_HINT.search(b.text):
            before = blocks[i - 1].text if i > 0 else ""
            # a title printed on two lines: "XX市人民政府" / "2023年政府信息公开工作年度报告"
            title = (before if len(before) <= 30 and not re.search(r"[:：]", before) else "") + b.text
            break
    return blocks, meta, title or meta.get("title", "")
