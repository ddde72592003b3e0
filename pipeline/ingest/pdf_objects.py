"""pdfplumber pages whose objects come from pypdfium2 (C) instead of pdfminer.six (pure Python).

pdfplumber's table finder, crops and text lines work on `page.objects`: dicts of chars, lines, rects and curves that
pdfplumber normally builds by letting pdfminer.six interpret the page's content stream — about 95 % of the time a
table page costs. `PdfiumPage` is a `pdfplumber.page.Page` whose `objects` are built from the page pdfium has already
parsed, with the keys and the coordinate system pdfplumber uses, so `find_tables`, `extract`, `crop`,
`outside_bbox`, `extract_text_lines`, `chars` and `edges` work unchanged.

How each object is made, and where it can differ from pdfminer's:

- **chars** come from pdfium's text page (`FPDFText_*`), in content-stream order: pdfium's text page sorts the text
  objects of a line by x, so the chars are put back in the order their text objects are painted (pdf.py's
  borderless-table reader joins cells in stream order). The box is pdfminer's, not pdfium's tight glyph box nor its
  ascent-based loose box: from the origin by the advance width (pdfium's loose box is that wide) and from the font's
  descent to descent + font size, transformed by the char's matrix; for a font written vertically (Identity-V,
  recognised by where pdfium puts the glyph origins) one em wide and the vertical advance high, as pdfminer's. For
  the standard fonts pdfminer knows by name (Helvetica, Times-Roman, Arial, ...) its built-in widths and descent are
  used, as pdfminer does. Generated characters (spaces and line breaks pdfium inserts) are left out.
  Known differences, all whitespace, duplicates or below 0.2 pt: pdfium drops text objects with no visible extent
  (e.g. a lone NBSP or space drawn as its own object), collapses a run of spaces within a line to one space, and
  drops a glyph painted twice at the same place (fake bold); its glyph widths and font descent are whole font
  units and for a few glyphs its width is not the file's (advances up to ~2 % off: x1 within 0.2 pt on the corpus),
  and its coordinates are single-precision floats (~1e-5 pt);
  colours are pdfium's RGB (pdfminer gives the colour space's components, `ncs` says DeviceRGB); `adv` is without
  horizontal scaling; `mcid`/`tag` are None.
- **lines / rects / curves** come from path objects (`FPDFPath_*`), with the composed matrix of the Form XObjects
  they sit in, split into subpaths and classified exactly as pdfminer's `paint_path` does (2 points → line; a closed
  axis-aligned 4-point path, `re` included, → rect; else curve). pdfium stores `re` as m l l l l h: the redundant
  closing `l` of such a rect is dropped from `path` as pdfminer's `re` has none (a rect drawn explicitly as
  m l l l l h therefore also loses it); `linewidth` is pdfium's (1.0 when the content never sets it, pdfminer says
  0); colours are RGB as above; images are not listed.

`AUDITOR_PDF_OBJECTS=pdfminer` makes pdf.py use pdfminer (plain pdfplumber) for every page; pdf.py also falls back
to pdfminer for a page whose objects pdfium cannot give.
"""
from __future__ import annotations

import ctypes
import os
from functools import lru_cache

from pdfplumber.page import Page

ENV = "AUDITOR_PDF_OBJECTS"


def backend() -> str:
    """'pdfium' (default) or 'pdfminer', from $AUDITOR_PDF_OBJECTS."""
    v = (os.environ.get(ENV) or "pdfium").strip().lower()
    return "pdfminer" if v in ("pdfminer", "pdfminer.six", "pdfplumber", "plumber") else "pdfium"


# --- direct ctypes prototypes (handles as plain integers: no pointer objects per call) -------------------------

def _lib():
    from pypdfium2_raw import bindings

    return bindings._libs["pdfium"]


_VP, _I, _F, _D = ctypes.c_void_p, ctypes.c_int, ctypes.c_float, ctypes.c_double


class _RectF(ctypes.Structure):
    _fields_ = [("left", _F), ("top", _F), ("right", _F), ("bottom", _F)]


class _Matrix(ctypes.Structure):
    _fields_ = [("a", _F), ("b", _F), ("c", _F), ("d", _F), ("e", _F), ("f", _F)]


class _C:
    """pdfium functions with the prototypes used here (own function objects: pypdfium2's are left as they are)."""

    def __init__(self):
        lib = _lib()

        def fn(name, restype, *argtypes):
            f = lib[name]
            f.restype = restype
            f.argtypes = argtypes
            return f

        P = ctypes.POINTER
        self.CountChars = fn("FPDFText_CountChars", _I, _VP)
        self.GetUnicode = fn("FPDFText_GetUnicode", ctypes.c_uint, _VP, _I)
        self.IsGenerated = fn("FPDFText_IsGenerated", _I, _VP, _I)
        self.IsHyphen = fn("FPDFText_IsHyphen", _I, _VP, _I)
        self.HasUnicodeMapError = fn("FPDFText_HasUnicodeMapError", _I, _VP, _I)
        self.GetTextObject = fn("FPDFText_GetTextObject", _VP, _VP, _I)
        self.GetCharOrigin = fn("FPDFText_GetCharOrigin", _I, _VP, _I, P(_D), P(_D))
        self.GetLooseCharBox = fn("FPDFText_GetLooseCharBox", _I, _VP, _I, P(_RectF))
        self.GetCharBox = fn("FPDFText_GetCharBox", _I, _VP, _I, P(_D), P(_D), P(_D), P(_D))
        self.GetMatrix = fn("FPDFText_GetMatrix", _I, _VP, _I, P(_Matrix))
        self.GetFontSize = fn("FPDFText_GetFontSize", _D, _VP, _I)
        self.TextObjGetFont = fn("FPDFTextObj_GetFont", _VP, _VP)
        self.FontGetDescent = fn("FPDFFont_GetDescent", _I, _VP, _F, P(_F))
        self.FontGetBaseFontName = fn("FPDFFont_GetBaseFontName", ctypes.c_size_t, _VP, ctypes.c_char_p,
                                      ctypes.c_size_t)
        self.PageCountObjects = fn("FPDFPage_CountObjects", _I, _VP)
        self.PageGetObject = fn("FPDFPage_GetObject", _VP, _VP, _I)
        self.FormCountObjects = fn("FPDFFormObj_CountObjects", _I, _VP)
        self.FormGetObject = fn("FPDFFormObj_GetObject", _VP, _VP, ctypes.c_ulong)
        self.ObjGetType = fn("FPDFPageObj_GetType", _I, _VP)
        self.ObjGetMatrix = fn("FPDFPageObj_GetMatrix", _I, _VP, P(_Matrix))
        self.ObjGetFillColor = fn("FPDFPageObj_GetFillColor", _I, _VP, P(ctypes.c_uint), P(ctypes.c_uint),
                                  P(ctypes.c_uint), P(ctypes.c_uint))
        self.ObjGetStrokeColor = fn("FPDFPageObj_GetStrokeColor", _I, _VP, P(ctypes.c_uint), P(ctypes.c_uint),
                                    P(ctypes.c_uint), P(ctypes.c_uint))
        self.ObjGetStrokeWidth = fn("FPDFPageObj_GetStrokeWidth", _I, _VP, P(_F))
        self.ObjGetDashCount = fn("FPDFPageObj_GetDashCount", _I, _VP)
        self.ObjGetDashArray = fn("FPDFPageObj_GetDashArray", _I, _VP, P(_F), ctypes.c_size_t)
        self.ObjGetDashPhase = fn("FPDFPageObj_GetDashPhase", _I, _VP, P(_F))
        self.ObjGetMarkedContentID = fn("FPDFPageObj_GetMarkedContentID", _I, _VP)
        self.PathCountSegments = fn("FPDFPath_CountSegments", _I, _VP)
        self.PathGetPathSegment = fn("FPDFPath_GetPathSegment", _VP, _VP, _I)
        self.PathGetDrawMode = fn("FPDFPath_GetDrawMode", _I, _VP, P(_I), P(_I))
        self.SegGetPoint = fn("FPDFPathSegment_GetPoint", _I, _VP, P(_F), P(_F))
        self.SegGetType = fn("FPDFPathSegment_GetType", _I, _VP)
        self.SegGetClose = fn("FPDFPathSegment_GetClose", _I, _VP)

        # The calls made per char, path and object again as self.r_<name>, without argtypes: ctypes then converts
        # nothing (2-3 times faster per call). Every pointer argument must be passed as a c_void_p or byref(...),
        # ints only where C takes an int; results of pointer type come back as int (or None). Each is its own
        # function object of the same pdfium function and restype as self.<name>.
        for name in ("GetTextObject", "GetCharOrigin", "GetLooseCharBox", "IsGenerated", "GetUnicode", "GetMatrix",
                     "GetFontSize", "TextObjGetFont", "PageGetObject", "ObjGetType", "PathCountSegments",
                     "PathGetPathSegment", "PathGetDrawMode", "ObjGetMatrix", "ObjGetStrokeWidth", "ObjGetDashCount",
                     "ObjGetFillColor", "ObjGetStrokeColor"):
            typed = getattr(self, name)
            f = lib[typed.__name__]
            f.restype = typed.restype
            setattr(self, "r_" + name, f)


@lru_cache(maxsize=1)
def _c() -> _C:
    return _C()


def _handle(obj) -> int:
    """The address of a pypdfium2 object's raw handle (PdfPage, PdfTextPage or a raw ctypes pointer)."""
    raw = getattr(obj, "raw", obj)
    return ctypes.cast(raw, ctypes.c_void_p).value


_TEXT, _PATH, _IMAGE, _SHADING, _FORM = 1, 2, 3, 4, 5
_SEG_LINETO, _SEG_BEZIERTO, _SEG_MOVETO = 0, 1, 2
_FILL_ALTERNATE = 1


# --- geometry ------------------------------------------------------------------------------------------------

def _mult(m1, m0):
    """pdfminer's mult_matrix: apply m1, then m0."""
    a1, b1, c1, d1, e1, f1 = m1
    a0, b0, c0, d0, e0, f0 = m0
    return (a0 * a1 + c0 * b1, b0 * a1 + d0 * b1, a0 * c1 + c0 * d1, b0 * c1 + d0 * d1,
            a0 * e1 + c0 * f1 + e0, b0 * e1 + d0 * f1 + f0)


def _norm_box(box, rotation):
    """pdfplumber's _normalize_box."""
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    return (y0, x0, y1, x1) if rotation in (90, 270) else (x0, y0, x1, y1)


def _invert(box, h):
    x0, y0, x1, y1 = box
    return (x0, h - y1, x1, h - y0)


class Geometry:
    """A page's boxes the way pdfplumber derives them from pdfminer's page, and pdfminer's page matrix (user space →
    pdfminer's device space: relative to the MediaBox origin, rotated)."""

    def __init__(self, mediabox, cropbox, rotation: int):
        rotation = int(rotation or 0) % 360
        self.rotation = rotation
        mb = _norm_box(mediabox, rotation)
        mb_height = mb[3] - mb[1]
        self.mediabox = _invert(mb, mb_height)
        self.cropbox = _invert(_norm_box(cropbox, rotation), mb_height) if cropbox is not None else self.mediabox
        # pdfminer's PDFPageInterpreter.process_page
        x0, y0, x1, y1 = mediabox
        if rotation == 90:
            self.ctm = (0, -1, 1, 0, -y0, x1)
        elif rotation == 180:
            self.ctm = (-1, 0, 0, -1, x1, y1)
        elif rotation == 270:
            self.ctm = (0, 1, -1, 0, y1, -x0)
        else:
            self.ctm = (1, 0, 0, 1, -x0, -y0)

    @property
    def height(self):
        return self.mediabox[3] - self.mediabox[1]

    @classmethod
    def of(cls, page) -> "Geometry":
        """From a pypdfium2 PdfPage. A MediaBox pdfium does not find on the page itself (inherited from the page
        tree) is taken from pdfium's page size."""
        try:
            mediabox = page.get_mediabox(fallback_ok=False)
        except Exception:  # noqa: BLE001
            mediabox = None
        if mediabox is None:
            mediabox = page.get_bbox()
        try:
            cropbox = page.get_cropbox(fallback_ok=False)
        except Exception:  # noqa: BLE001
            cropbox = None
        return cls(tuple(mediabox), tuple(cropbox) if cropbox is not None else None, page.get_rotation())


# --- objects ------------------------------------------------------------------------------------------------

class _Walk:
    """One pass over a page's objects (Form XObjects descended): content order of the text objects, path dicts."""

    def __init__(self, c: _C, page_handle: int):
        self.c = c
        self.text_order: dict[int, int] = {}
        self.paths: list[tuple[ctypes.c_void_p, tuple]] = []  # (path object, matrix of its form(s))
        self._m = _Matrix()
        self._walk_page(page_handle)

    def _walk_page(self, page):
        c = self.c
        page_v = ctypes.c_void_p(page)
        get_page_obj, get_type, vp = c.r_PageGetObject, c.r_ObjGetType, ctypes.c_void_p
        stack = [(page, 0, c.PageCountObjects(page), None, True)]
        # iterative depth-first walk in content order
        order = self.text_order
        while stack:
            holder, i, n, form_m, is_page = stack.pop()
            while i < n:
                o = get_page_obj(page_v, i) if is_page else c.FormGetObject(holder, i)
                i += 1
                if not o:
                    continue
                ov = vp(o)
                t = get_type(ov)
                if t == _TEXT:
                    order[o] = len(order)
                elif t == _PATH:
                    self.paths.append((ov, form_m))
                elif t == _FORM:
                    m = self._matrix(o)
                    sub = m if form_m is None else _mult(m, form_m)
                    stack.append((holder, i, n, form_m, is_page))
                    holder, i, n, form_m, is_page = o, 0, c.FormCountObjects(o), sub, False
                    if len(stack) > 64:  # absurd nesting: stop descending
                        holder, i, n, form_m, is_page = stack.pop()

    def _matrix(self, o):
        m = self._m
        if not self.c.ObjGetMatrix(o, ctypes.byref(m)):
            return (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
        return (m.a, m.b, m.c, m.d, m.e, m.f)


def _builtin_metrics(name: str):
    from pdfminer.fontmetrics import FONT_METRICS

    return FONT_METRICS.get(name)


def _order_key(t):
    return t[0], t[1]


class _Builder:
    def __init__(self, page, textpage, page_number: int, initial_doctop: float, geo: Geometry,
                 text: str | None = None):
        self.text = text
        self.c = _c()
        self.page_h = _handle(page)
        self.tp_h = _handle(textpage)
        if not self.page_h or not self.tp_h:
            raise ValueError("pdfium page or text page already closed")
        self.page_number = page_number
        self.doctop0 = initial_doctop
        self.geo = geo
        self.mb_x0, self.mb_top = geo.mediabox[0], geo.mediabox[1]
        self.height = geo.height
        self._q = _Out()

    def build(self) -> dict[str, list[dict]]:
        walk = _Walk(self.c, self.page_h)
        objects: dict[str, list[dict]] = {}
        chars = self.chars(walk.text_order)
        if chars:
            objects["char"] = chars
        for o, form_m in walk.paths:
            for kind, obj in self.path_objects(o, form_m):
                objects.setdefault(kind, []).append(obj)
        return objects

    # chars ------------------------------------------------------------------------------------------------
    def chars(self, text_order: dict[int, int]) -> list[dict]:
        c, tp = self.c, self.tp_h
        n = c.CountChars(tp)
        if n <= 0:
            return []
        # the page's text, when it has one character per char (pdfium leaves out none): no call per char for it
        text = self.text
        if text is None or len(text) != n:
            text = None
        ctm = self.geo.ctm
        identity_ctm = ctm == (1, 0, 0, 1, 0, 0)
        height, mb_x0, mb_top, doctop0 = self.height, self.mb_x0, self.mb_top, self.doctop0
        page_number = self.page_number
        ox, oy = _D(), _D()
        box = _RectF()
        mat = _Matrix()
        p_ox, p_oy, p_box, p_mat = ctypes.byref(ox), ctypes.byref(oy), ctypes.byref(box), ctypes.byref(mat)
        tp_v = ctypes.c_void_p(tp)
        GetTextObject, GetCharOrigin, GetLooseCharBox = c.r_GetTextObject, c.r_GetCharOrigin, c.r_GetLooseCharBox
        IsGenerated, GetUnicode = c.r_IsGenerated, c.r_GetUnicode
        per_obj: dict[int, tuple] = {}
        fonts: dict[int, tuple] = {}
        unmapped: dict[int, dict[int, bool]] = {}  # per font: char code → has no Unicode
        out: list[tuple[int, int, dict]] = []
        last_key = None
        unknown = len(text_order)
        q = self._q
        for i in range(n):
            u = ord(text[i]) if text is not None else GetUnicode(tp_v, i)
            if (u == 0x20 or u == 0x0D or u == 0x0A) and IsGenerated(tp_v, i):
                continue  # a space or line break pdfium inserted
            obj = GetTextObject(tp_v, i)
            info = per_obj.get(obj)
            if info is None:
                if not c.r_GetMatrix(tp_v, i, p_mat):
                    raise ValueError(f"pdfium: no matrix for char {i}")
                size = c.r_GetFontSize(tp_v, i)
                ov = ctypes.c_void_p(obj) if obj else None
                font = c.r_TextObjGetFont(ov) if obj else None
                finfo = fonts.get(font)
                if finfo is None:
                    finfo = fonts[font] = self._font(font)
                if obj:
                    colours = (q.rgb(c.r_ObjGetStrokeColor, ov), q.rgb(c.r_ObjGetFillColor, ov))
                else:
                    colours = ((0,), (0,))
                det = mat.a * mat.d - mat.b * mat.c
                # the text object's start (e, f) and the inverse of its matrix: where each glyph sits in text space
                start = (mat.e, mat.f, mat.d / det, -mat.c / det, -mat.b / det, mat.a / det) if det else None
                info = per_obj[obj] = ((mat.a, mat.b, mat.c, mat.d), size, finfo[0], finfo[1],
                                       text_order.get(obj, unknown), unmapped.setdefault(font, {}), colours, finfo[2],
                                       start)
            (a, b, cc, d), size, descent, fontname, order, font_unmapped, (scolor, ncolor), afm, start = info
            if not GetCharOrigin(tp_v, i, p_ox, p_oy):
                raise ValueError(f"pdfium: no origin for char {i}")
            x, y = ox.value, oy.value
            if u == 0x2 and c.IsHyphen(tp, i):
                s_text = "-"  # pdfium marks a hyphen at a line end with 0x2
            else:
                # a glyph without Unicode: pdfium gives its char code, pdfminer "(cid:N)" (asked once per font and
                # code)
                bad = font_unmapped.get(u)
                if bad is None:
                    bad = font_unmapped[u] = bool(u == 0 or c.HasUnicodeMapError(tp, i))
                s_text = f"(cid:{u})" if bad else (chr(u) if u < 0x110000 else "\ufffd")
            key = (obj, x, y)
            if key == last_key:  # one glyph mapped to several characters (a ligature): one char, as pdfminer
                out[-1][2]["text"] += s_text
                continue
            last_key = key
            # A font written vertically (Identity-V): pdfium's origin of a glyph is the pen position minus the
            # vertical origin (about half an em left and 0.88 em down); in horizontal writing no glyph sits left of
            # and below its text object's start at once. pdfminer's box of a vertical glyph is (0, size - advance,
            # size, size) from pdfium's origin, the advance being the height of pdfium's loose box (which for
            # vertical writing is not transformed by the matrix). Horizontally pdfium's loose box runs from the
            # origin by the advance width times the matrix's a; pdfminer's box is (0, descent, advance, descent +
            # size) from the origin.
            adv = 0.0
            vertical = False
            lo = descent * size
            hi = lo + size
            if start is not None:
                dx, dy = x - start[0], y - start[1]
                vertical = (start[2] * dx + start[3] * dy < -0.05 * size
                            and start[4] * dx + start[5] * dy < -0.3 * size)
            if afm is not None and not vertical:  # pdfminer's built-in widths, by character
                adv = afm.get(s_text, 0) * size / 1000
            elif GetLooseCharBox(tp_v, i, p_box):
                if vertical:
                    adv = -abs(box.top - box.bottom)
                    lo, hi = size + adv, size
                elif abs(a) > 1e-6:
                    adv = (box.right - box.left) / a
            if not vertical and adv == 0.0 and abs(b) > 1e-6:
                l_, r_, b_, t_ = _D(), _D(), _D(), _D()
                if c.GetCharBox(tp, i, ctypes.byref(l_), ctypes.byref(r_), ctypes.byref(b_), ctypes.byref(t_)):
                    adv = abs(t_.value - b_.value) / abs(b)
            x_hi = size if vertical else adv
            if identity_ctm:
                a2, b2, c2, d2, e2, f2 = m = (a, b, cc, d, x, y)
            else:
                a2, b2, c2, d2, e2, f2 = m = _mult((a, b, cc, d, x, y), ctm)
            # apply_matrix_rect(m, (0, lo, x_hi, hi))
            if b2 == 0 and c2 == 0:
                x0, x1 = e2, a2 * x_hi + e2
                y0, y1 = d2 * lo + f2, d2 * hi + f2
                if x1 < x0:
                    x0, x1 = x1, x0
                if y1 < y0:
                    y0, y1 = y1, y0
            else:
                xs = (c2 * lo + e2, a2 * x_hi + c2 * lo + e2, a2 * x_hi + c2 * hi + e2, c2 * hi + e2)
                ys = (d2 * lo + f2, b2 * x_hi + d2 * lo + f2, b2 * x_hi + d2 * hi + f2, d2 * hi + f2)
                x0, x1 = min(xs), max(xs)
                y0, y1 = min(ys), max(ys)
            top = (height - y1) + mb_top
            if mb_x0 != 0:
                x0 += mb_x0
                x1 += mb_x0
            out.append((order, len(out), {
                "matrix": m, "fontname": fontname, "adv": adv, "upright": a2 * d2 > 0 and b2 * c2 <= 0,
                "x0": x0, "y0": y0, "x1": x1, "y1": y1, "width": x1 - x0, "height": y1 - y0,
                "size": (x1 - x0) if vertical else (y1 - y0),
                "mcid": None, "tag": None, "object_type": "char", "page_number": page_number, "ncs": "DeviceRGB",
                "text": s_text, "stroking_color": scolor, "non_stroking_color": ncolor,
                "top": top, "bottom": (height - y0) + mb_top, "doctop": doctop0 + top,
            }))
        out.sort(key=_order_key)
        return [t[2] for t in out]

    def _font(self, font) -> tuple[float, str, dict | None]:
        """(descent per unit of font size, font name, widths by character or None) of a pdfium font. For the
        standard fonts pdfminer knows by name (Helvetica, Times-Roman, Arial, ...) pdfminer uses its built-in AFM
        metrics whatever the file says: so do we."""
        if not font:
            return 0.0, "unknown", None
        c = self.c
        name = "unknown"
        n = c.FontGetBaseFontName(font, None, 0)
        if n > 0:
            buf = ctypes.create_string_buffer(n)
            c.FontGetBaseFontName(font, buf, n)
            name = buf.value.decode("utf-8", "replace") or "unknown"
        builtin = _builtin_metrics(name)
        if builtin is not None:
            descriptor, widths = builtin
            descent = float(descriptor.get("Descent", 0)) / 1000
            return (-descent if descent > 0 else descent), str(descriptor.get("FontName", name)), widths
        d = _F()
        descent = d.value if c.FontGetDescent(font, 1.0, ctypes.byref(d)) else 0.0
        if descent > 0:
            descent = -descent
        return descent, name, None


    # paths ------------------------------------------------------------------------------------------------
    def segments(self, o) -> list[tuple[float, float, int, int]]:
        """(x, y, type, close) of a path object's points. pdfium keeps them in one array (a std::vector of
        CFX_Path::Point) and FPDFPath_GetPathSegment hands out pointers into it: when that layout was checked against
        the API once (`_raw_layout`), the array is read in one go; else point by point through the API."""
        c = self.c
        n = c.r_PathCountSegments(o)
        if n <= 0:
            return []
        if _raw_layout(c, o.value, n):  # the points are a std::vector: contiguous
            s0 = c.r_PathGetPathSegment(o, 0)
            if s0:
                return list(_POINT.iter_unpack(ctypes.string_at(s0, _STRIDE * n)))
        return _api_segments(c, o.value, n)

    def path_objects(self, o, form_m):
        segs = self.segments(o)
        if not segs:
            return []
        c, q = self.c, self._q
        if not c.r_PathGetDrawMode(o, q.p_fillmode, q.p_stroke):
            q.fillmode.value, q.stroke.value = 0, 1
        m = self._obj_matrix(o)
        if form_m is not None:
            m = _mult(m, form_m)
        if self.geo.ctm != (1, 0, 0, 1, 0, 0):
            m = _mult(m, self.geo.ctm)
        a, b, cc, d, e, f = m
        linewidth = q.width.value if c.r_ObjGetStrokeWidth(o, q.p_width) else 0.0
        dash = None
        k = c.r_ObjGetDashCount(o)
        if k > 0:
            arr = (_F * k)()
            c.ObjGetDashArray(o.value, arr, k)
            c.ObjGetDashPhase(o.value, q.p_phase)
            dash = (list(arr), q.phase.value)
        fillmode = q.fillmode.value
        style = (linewidth, bool(q.stroke.value), fillmode != 0, fillmode == _FILL_ALTERNATE,
                 q.rgb(c.r_ObjGetStrokeColor, o), q.rgb(c.r_ObjGetFillColor, o), dash)
        # pdfminer's path — ('m', p), ('l', p), ('c', p1, p2, p3), ('h',) — as (operator, points in pdfminer's
        # device space, the same points in pdfplumber's coordinates), one list per subpath
        mb_x0, mb_y = self.mb_x0, self.mb_top + self.height
        subpaths: list[list[tuple]] = []
        path: list[tuple] = []
        bez: list = []
        for x, y, t, close in segs:
            px, py = a * x + cc * y + e, b * x + d * y + f
            if t == _SEG_LINETO:
                path.append(("l", ((px, py),), ((mb_x0 + px, mb_y - py),)))
                bez = []
            elif t == _SEG_MOVETO:
                path = [("m", ((px, py),), ((mb_x0 + px, mb_y - py),))]
                subpaths.append(path)
                bez = []
            elif t == _SEG_BEZIERTO:
                bez.append((px, py))
                if len(bez) < 3:
                    continue
                path.append(("c", tuple(bez), tuple((mb_x0 + u, mb_y - v) for u, v in bez)))
                bez = []
            else:
                continue
            if close:
                path.append(("h", (), ()))
        out: list[tuple[str, dict]] = []
        if not subpaths or segs[0][2] != _SEG_MOVETO:
            return out  # pdfminer paints nothing of a path that does not begin with m
        if len(subpaths) > 1:  # pdfminer splits at m (r"m[^m]+"): a lone m is no subpath then
            subpaths = [sp for sp in subpaths if len(sp) > 1]
        for path in subpaths:  # one object per subpath, as pdfminer
            self._paint(path, style, out)
        return out

    def _obj_matrix(self, o):
        mm = self._q.matrix
        if not self.c.r_ObjGetMatrix(o, self._q.p_matrix):
            return (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
        return (mm.a, mm.b, mm.c, mm.d, mm.e, mm.f)

    def _paint(self, path, style, out):
        """pdfminer's PDFLayoutAnalyzer.paint_path on one subpath (points already transformed), then pdfplumber's
        process_object."""
        shape = "".join([p[0] for p in path])
        first = path[0][1][0]
        pts = [p[1][-1] if p[1] else first for p in path]
        if len(shape) > 3 and shape[-2:] == "lh" and pts[-2] == pts[0]:
            shape = shape[:-2] + "h"
            pts.pop()
            if shape == "mlllh":  # pdfium turns `re` into m l l l l h; pdfminer's `re` is m l l l h
                path = path[:-2] + path[-1:]
        kind = "curve"
        if shape == "mlh" or shape == "ml":
            kind, pts = "line", pts[:2]
        elif shape == "mlllh" or shape == "mllll":
            (x0, y0), (x1, y1), (x2, y2), (x3, y3), p4 = pts
            if pts[0] == p4 and ((x0 == x1 and y1 == y2 and x2 == x3 and y3 == y0)
                                 or (y0 == y1 and x1 == x2 and y2 == y3 and x3 == x0)):
                kind = "rect"
                pts = [(x0, y0), (x2, y0), (x2, y2), (x0, y2)]
        height, mb_x0, mb_top = self.height, self.mb_x0, self.mb_top
        mb_y = mb_top + height
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        top = (height - y1) + mb_top
        linewidth, stroke, fill, evenodd, scolor, ncolor, dash = style
        out.append((kind, {
            "x0": x0 + mb_x0, "y0": y0, "x1": x1 + mb_x0, "y1": y1, "width": x1 - x0, "height": y1 - y0,
            "pts": [(mb_x0 + px, mb_y - py) for px, py in pts], "linewidth": linewidth, "stroke": stroke,
            "fill": fill, "evenodd": evenodd, "stroking_color": scolor, "non_stroking_color": ncolor,
            "mcid": None, "tag": None, "object_type": kind, "page_number": self.page_number,
            "path": [(p[0], *p[2]) for p in path],
            "dash": dash, "top": top, "bottom": (height - y0) + mb_top, "doctop": self.doctop0 + top,
        }))


_STRIDE = 12  # CFX_Path::Point: float x, float y, uint8 type, bool close (+2 bytes padding)
_POINT = __import__("struct").Struct("<ffBBxx")
_LAYOUT: list[bool] = []  # [checked result] once per process


def _api_segments(c, o, n):
    x, y = _F(), _F()
    px, py = ctypes.byref(x), ctypes.byref(y)
    out = []
    for j in range(n):
        seg = c.PathGetPathSegment(o, j)
        if not seg or not c.SegGetPoint(seg, px, py):
            continue
        out.append((x.value, y.value, c.SegGetType(seg), 1 if c.SegGetClose(seg) else 0))
    return out


def _raw_layout(c, o, n) -> bool:
    """Is pdfium's path point array laid out as _POINT with stride _STRIDE? Checked once against the API on the
    first path of two points or more."""
    if _LAYOUT:
        return _LAYOUT[0]
    if n < 2:
        return False
    ok = False
    try:
        s0, s1 = c.PathGetPathSegment(o, 0), c.PathGetPathSegment(o, 1)
        if s0 and s1 and s1 - s0 == _STRIDE and c.PathGetPathSegment(o, n - 1) == s0 + _STRIDE * (n - 1):
            raw = list(_POINT.iter_unpack(ctypes.string_at(s0, _STRIDE * n)))
            ok = raw == _api_segments(c, o, n)
    except Exception:  # noqa: BLE001
        ok = False
    _LAYOUT.append(ok)
    return ok


class _Out:
    """Reusable out-parameters of the pdfium calls (byref made once)."""

    def __init__(self):
        self.fillmode, self.stroke = _I(), _I()
        self.p_fillmode, self.p_stroke = ctypes.byref(self.fillmode), ctypes.byref(self.stroke)
        self.width, self.phase = _F(), _F()
        self.p_width, self.p_phase = ctypes.byref(self.width), ctypes.byref(self.phase)
        self.matrix = _Matrix()
        self.p_matrix = ctypes.byref(self.matrix)
        self.r, self.g, self.b, self.a = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        self.p_rgba = (ctypes.byref(self.r), ctypes.byref(self.g), ctypes.byref(self.b), ctypes.byref(self.a))

    def rgb(self, fn, o):
        if not fn(o, *self.p_rgba):
            return (0,)
        return (self.r.value / 255, self.g.value / 255, self.b.value / 255)


def page_objects(page, textpage, page_number: int, initial_doctop: float = 0.0,
                 geometry: Geometry | None = None, text: str | None = None) -> dict[str, list[dict]]:
    """pdfplumber's `Page.objects` (char, line, rect, curve) of a pypdfium2 page, built from pdfium. `text`: the
    text page's `get_text_range()` if already read (saves a call per char)."""
    geo = geometry or Geometry.of(page)
    return _Builder(page, textpage, page_number, initial_doctop, geo, text).build()


class _PdfStub:
    """What pdfplumber's Page reads from its PDF besides the page object."""

    unicode_norm = None
    laparams = None
    raise_unicode_errors = True


_STUB = _PdfStub()


class PdfiumPage(Page):
    """A pdfplumber page whose objects come from pypdfium2 (see the module docstring). `page` and `textpage` are
    pypdfium2 objects that must stay open while the page is used."""

    def __init__(self, page, textpage, page_number: int, initial_doctop: float = 0.0,
                 geometry: Geometry | None = None, text: str | None = None):
        geo = geometry or Geometry.of(page)
        self.pdf = _STUB
        self.root_page = self
        self.page_obj = None
        self.page_number = page_number
        self.initial_doctop = initial_doctop
        self.rotation = geo.rotation
        self.mediabox = geo.mediabox
        self.cropbox = geo.cropbox
        self.bbox = self.mediabox
        self.get_textmap = lru_cache()(self._get_textmap)
        self._pdfium = (page, textpage, geo, text)

    def parse_objects(self):
        page, textpage, geo, text = self._pdfium
        return page_objects(page, textpage, self.page_number, self.initial_doctop, geo, text)

    @property
    def layout(self):  # pragma: no cover - pdfminer's layout is what this page avoids
        raise NotImplementedError("PdfiumPage has no pdfminer layout")

    @property
    def annots(self):
        return []

    def __repr__(self) -> str:
        return f"<PdfiumPage:{self.page_number}>"


def doctops(pages) -> list[float]:
    """pdfplumber's initial_doctop of each page: the heights of the pages before it."""
    out, acc = [], 0.0
    for g in pages:
        out.append(acc)
        acc += g.height
    return out


__all__ = ["ENV", "Geometry", "PdfiumPage", "backend", "doctops", "page_objects"]
