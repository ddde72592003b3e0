"""OCR of scanned pages and table images → Blocks: ruled tables as grids (merged cells kept), the rest as text lines.

Offline only: RapidOCR (rapidocr 3.x + onnxruntime) with the detection/recognition models shipped inside the
rapidocr wheel, passed by path; its downloader is disabled, so a missing model is an error, never a download.

Per page (`ocr_page`, a PIL image rendered at ~200 dpi; `ocr_image_bytes` for .png/.jpg and <img> tables):
1. deskew: the angle that makes the horizontal projection of the ink sharpest (ruling lines and text lines);
2. text detection (RapidOCR's detector) on the straightened page;
3. ruling lines by OpenCV morphology (opening with long horizontal/vertical kernels, lengths from the text height);
   each connected set of lines is a table: row/column boundaries where lines run, a merged cell wherever the
   separator between two grid positions is missing (union of the positions → one origin id);
4. text boxes that cross a ruling line are split at it; every box goes to the cell holding its centre;
5. recognition on the page with the ruling lines erased: the boxes are packed side by side into a few long strips
   (the recogniser pads every input to 320 px, so one strip instead of 200 single-digit crops is ~4x faster) and
   each decoded character goes back to the box it sits in;
6. cells that are numeric apart from OCR confusions (O→0, l/I/|→1, ...) are repaired; nothing else is changed;
7. boxes outside tables become text lines (clustered by centre-y, sorted by x). Without ruling lines a table is
   recognised by its rows: a label, then numbers set far apart (boxes are first split at wide blanks). Nearby such
   rows make one grid: value columns from the x-spans of the numbers, one row per number line (wrapped label lines
   join the nearest row), header words above the columns joined per column, a lone centred line as a caption.

Grid.source / Block.location say "OCR第{page}页表格{n}" (or "OCR{image label}表格{n}"), so every cell location
shows that the value was read by OCR.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..document import PAD, Block, Grid

log = logging.getLogger(__name__)

MODEL_FILES = {  # rapidocr 3.10 wheel: PP-OCRv6 small det/rec (+ the 2.0 direction classifier, not used)
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
DET_MAX_SIDE = 1600     # the detector sees the page scaled to this longest side (200 dpi A4 → ×0.68)
REC_H = 48              # recogniser input height
STRIP_GAP = 16          # white gap between packed crops (px at REC_H)
STRIP_MAX_W = 1600      # packed strip width (px at REC_H)
REC_BATCH = 4

_lock = threading.RLock()
_ENGINE = None


class OcrUnavailable(RuntimeError):
    """rapidocr/onnxruntime/OpenCV or the bundled models are missing (or a model download was attempted)."""


# --- engine ------------------------------------------------------------------------------------------------------

def _models_dir() -> Path | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("rapidocr")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / "models"


def _model_paths() -> dict[str, Path] | None:
    d = _models_dir()
    if d is None or not d.is_dir():
        return None
    out = {}
    for task, name in MODEL_FILES.items():
        p = d / name
        if not p.is_file() or p.stat().st_size < 1000:
            if task == "Cls":
                continue
            return None
        out[task] = p
    return out


@functools.cache
def ocr_available() -> bool:
    """True when rapidocr, onnxruntime, OpenCV and numpy import and the bundled det/rec models are present."""
    try:
        import cv2  # noqa: F401
        import numpy  # noqa: F401
        import PIL  # noqa: F401
        import onnxruntime  # noqa: F401
        import rapidocr  # noqa: F401
    except Exception:  # ImportError, or a broken native library
        return False
    return _model_paths() is not None


def _refuse_download(cls, input_params, *a, **k):
    raise OcrUnavailable(f"OCR模型缺失，不会联网下载 | refusing to download an OCR model at run time: "
                         f"{getattr(input_params, 'file_url', input_params)}")


def _engine():
    """The process-wide RapidOCR engine (created on first use, models loaded from the wheel)."""
    global _ENGINE
    if _ENGINE is not None:
        return _ENGINE
    with _lock:
        if _ENGINE is not None:
            return _ENGINE
        if not ocr_available():
            raise OcrUnavailable("未安装OCR组件（rapidocr、onnxruntime）或模型缺失 | OCR (rapidocr + onnxruntime "
                                 "with bundled models) is not available")
        from rapidocr import RapidOCR

        try:  # never fetch anything: a model that is not in the wheel is an error
            from rapidocr.utils import download_file

            download_file.DownloadFile.run = classmethod(_refuse_download)
        except Exception:  # pragma: no cover - other rapidocr layouts
            pass
        paths = _model_paths()
        params = {
            "Global.log_level": "warning",
            "Global.use_cls": False,
            "Global.max_side_len": 10000,           # no pre-shrink: the detector limit below decides
            "Det.limit_type": "max",
            "Det.limit_side_len": DET_MAX_SIDE,
        }
        for task, p in paths.items():
            params[f"{task}.model_path"] = str(p)
        eng = RapidOCR(params=params)
        for loader in ("_load_det_model", "_load_rec_model"):  # load now (under the no-download guard)
            if hasattr(eng, loader):
                getattr(eng, loader)()
        _ENGINE = eng
        return _ENGINE


# --- images ------------------------------------------------------------------------------------------------------

def _to_gray(image):
    """PIL image / numpy array → uint8 grey numpy array (white paper)."""
    import numpy as np
    from PIL import Image

    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3:
            import cv2

            arr = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2GRAY)
        return np.ascontiguousarray(arr.astype(np.uint8))
    img = image
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        bg.alpha_composite(img)
        img = bg
    return np.asarray(img.convert("L"), dtype=np.uint8).copy()


def _binary(gray):
    """Ink = 255 (adaptive threshold: robust to grey paper, shading and noise)."""
    import cv2

    blur = cv2.GaussianBlur(gray, (3, 3), 0)
    return cv2.adaptiveThreshold(blur, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)


def estimate_skew(gray) -> float:
    """Skew angle in degrees (counter-clockwise positive, as cv2/PIL rotate): the angle whose removal makes the
    row profile of the ink sharpest. Ruling lines and text lines both drive it; search ±5° to 0.02°."""
    import numpy as np

    binimg = _binary(gray)
    ys, xs = np.nonzero(binimg[::2, ::2])
    if len(xs) < 200:
        return 0.0
    if len(xs) > 150_000:
        sel = np.random.default_rng(0).choice(len(xs), 150_000, replace=False)
        ys, xs = ys[sel], xs[sel]
    ys = ys.astype(np.float64)
    xs = xs.astype(np.float64) - xs.mean()
    h = binimg.shape[0] // 2 + 1

    def score(a):
        yy = np.round(ys + xs * np.tan(np.radians(a))).astype(np.int64) + h
        hist = np.bincount(yy[(yy >= 0)], minlength=3 * h)
        return float((hist.astype(np.float64) ** 2).sum())

    best = 0.0
    for step, span in ((0.25, 5.0), (0.05, 0.3), (0.01, 0.06)):
        grid = np.arange(best - span, best + span + step / 2, step)
        best = float(max(grid, key=score))
    return best


def rotate(gray, angle: float):
    """Rotate by `angle` degrees counter-clockwise about the centre, white fill, same size."""
    import cv2

    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def deskew(gray, min_angle: float = 0.05):
    """(straightened image, angle removed)."""
    a = estimate_skew(gray)
    if abs(a) < min_angle:
        return gray, 0.0
    return rotate(gray, -a), a


# --- ruling lines and table grids --------------------------------------------------------------------------------

@dataclass
class TableLayout:
    """One ruled table on the page: boundaries and merged-cell regions (origin ids, row-major first appearance)."""
    bbox: tuple[int, int, int, int]      # x0, y0, x1, y1
    xs: list[int]                        # column boundaries (len = n_cols + 1)
    ys: list[int]                        # row boundaries (len = n_rows + 1)
    origin: list[list[int]] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.ys) - 1

    @property
    def n_cols(self) -> int:
        return len(self.xs) - 1

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        import bisect

        if not (self.xs[0] <= x <= self.xs[-1] and self.ys[0] <= y <= self.ys[-1]):
            return None
        c = min(max(bisect.bisect_right(self.xs, x) - 1, 0), self.n_cols - 1)
        r = min(max(bisect.bisect_right(self.ys, y) - 1, 0), self.n_rows - 1)
        return r, c


def _line_masks(binimg, text_h: float):
    """Horizontal and vertical ruling-line masks: openings with kernels longer than any character stroke."""
    import cv2
    import numpy as np

    kh = max(40, int(round(2.2 * text_h)))
    kv = max(24, int(round(0.85 * text_h)))
    h_mask = cv2.morphologyEx(binimg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (kh, 1)))
    v_mask = cv2.morphologyEx(binimg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, kv)))
    # bridge 1-2 px breaks (noise, blur) along the lines
    h_mask = cv2.morphologyEx(h_mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    v_mask = cv2.morphologyEx(v_mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 9)))
    # a vertical ruling line meets a horizontal one at an end; a tall character stroke inside a cell does not
    near_h = cv2.dilate(h_mask, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 13)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(v_mask, connectivity=8)
    keep = np.zeros(n, dtype=bool)
    for i in range(1, n):
        x, y, w, h, _a = stats[i]
        top = near_h[y:y + 3, x:x + w].any()
        bottom = near_h[y + h - 3:y + h, x:x + w].any()
        keep[i] = (top and bottom) or ((top or bottom) and h >= 2 * kv)
    v_mask = np.where(keep[labels], v_mask, 0).astype(np.uint8)
    return h_mask, v_mask, kh, kv


def _positions(profile, min_count: int, gap: int = 4) -> list[int]:
    """Centres of the runs of indexes where profile >= min_count (runs closer than `gap` are joined)."""
    import numpy as np

    idx = np.nonzero(profile >= min_count)[0]
    if len(idx) == 0:
        return []
    out, start, prev = [], idx[0], idx[0]
    for i in idx[1:]:
        if i - prev > gap:
            out.append(int(round((start + prev) / 2)))
            start = i
        prev = i
    out.append(int(round((start + prev) / 2)))
    return out


def _present(mask, axis: str, at: int, lo: int, hi: int, band: int = 4, need: float = 0.4) -> bool:
    """Is there a ruling line at x=at (axis 'v', running lo..hi in y) or y=at (axis 'h', running lo..hi in x)?"""
    import numpy as np

    trim = max(3, (hi - lo) // 8)           # ignore the crossings at both ends
    lo, hi = lo + trim, hi - trim
    if hi <= lo:
        return True
    if axis == "v":
        seg = mask[lo:hi, max(at - band, 0):at + band + 1]
        cover = np.count_nonzero(seg.max(axis=1))
    else:
        seg = mask[max(at - band, 0):at + band + 1, lo:hi]
        cover = np.count_nonzero(seg.max(axis=0))
    return cover >= need * (hi - lo)


def find_tables(gray, text_h: float | None = None, binimg=None) -> tuple[list[TableLayout], tuple]:
    """Ruled tables of a (straightened) page. Returns (layouts, (horizontal mask, vertical mask)). `text_h`:
    typical text box height in px (default: 200 dpi body text)."""
    import cv2
    import numpy as np

    text_h = text_h or 38.0
    binimg = _binary(gray) if binimg is None else binimg
    h_mask, v_mask, kh, kv = _line_masks(binimg, text_h)
    lines = cv2.bitwise_or(h_mask, v_mask)
    joined = cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    tables: list[TableLayout] = []
    for i in range(1, n):
        x, y, w, h, _area = stats[i]
        if w < 3 * kh or h < 1.2 * text_h:
            continue
        sub_h = h_mask[y:y + h, x:x + w] * (labels[y:y + h, x:x + w] == i)
        sub_v = v_mask[y:y + h, x:x + w] * (labels[y:y + h, x:x + w] == i)
        ys = _positions((sub_h > 0).sum(axis=1), kh)
        xs = _positions((sub_v > 0).sum(axis=0), kv)
        if len(ys) < 2 or len(xs) < 2:
            continue
        # open sides (no outer vertical/horizontal border): the other lines' extent closes the grid
        if xs[0] > 12:
            xs.insert(0, 0)
        if xs[-1] < w - 12:
            xs.append(w - 1)
        if ys[0] > 12:
            ys.insert(0, 0)
        if ys[-1] < h - 12:
            ys.append(h - 1)
        xs = [x + v for v in xs]
        ys = [y + v for v in ys]
        t = TableLayout(bbox=(int(x), int(y), int(x + w), int(y + h)), xs=xs, ys=ys)
        t.origin = _regions(t, h_mask, v_mask)
        tables.append(t)
    tables.sort(key=lambda t: (t.bbox[1], t.bbox[0]))
    return tables, (h_mask, v_mask)


def _regions(t: TableLayout, h_mask, v_mask) -> list[list[int]]:
    """Union the grid positions whose separating line is missing; origin ids in row-major first appearance."""
    nr, nc = t.n_rows, t.n_cols
    parent = list(range(nr * nc))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for r in range(nr):
        for c in range(nc):
            if c + 1 < nc and not _present(v_mask, "v", t.xs[c + 1], t.ys[r], t.ys[r + 1]):
                union(r * nc + c, r * nc + c + 1)
            if r + 1 < nr and not _present(h_mask, "h", t.ys[r + 1], t.xs[c], t.xs[c + 1]):
                union(r * nc + c, (r + 1) * nc + c)
    ids: dict[int, int] = {}
    out = []
    for r in range(nr):
        row = []
        for c in range(nc):
            root = find(r * nc + c)
            row.append(ids.setdefault(root, len(ids)))
        out.append(row)
    return out


def _erase_rules(gray, tables: list[TableLayout], h_mask, v_mask, band: int = 5):
    """The page with the tables' grid lines painted white (only at the grid's boundaries: strokes of characters
    elsewhere stay)."""
    import cv2
    import numpy as np

    if not tables:
        return gray
    erase = np.zeros_like(h_mask)
    for t in tables:
        x0, y0, x1, y1 = t.bbox
        for x in t.xs:
            sl = (slice(y0, y1 + 1), slice(max(x - band, 0), x + band + 1))
            erase[sl] |= v_mask[sl]
        for y in t.ys:
            sl = (slice(max(y - band, 0), y + band + 1), slice(x0, x1 + 1))
            erase[sl] |= h_mask[sl]
    erase = cv2.dilate(erase, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5)))
    clean = gray.copy()
    clean[erase > 0] = 255
    return clean


# --- recognition -------------------------------------------------------------------------------------------------

@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str = ""
    score: float = 0.0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def h(self) -> float:
        return self.y1 - self.y0


def _detect(gray) -> list[Box]:
    import cv2
    import numpy as np

    eng = _engine()
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    with _lock:
        res = eng(bgr, use_det=True, use_cls=False, use_rec=False)
    boxes = getattr(res, "boxes", None)
    if boxes is None:
        return []
    out = []
    H, W = gray.shape[:2]
    for q in np.asarray(boxes):
        x0, y0 = q.min(axis=0)
        x1, y1 = q.max(axis=0)
        x0, y0, x1, y1 = max(0.0, float(x0)), max(0.0, float(y0)), min(float(W), float(x1)), min(float(H), float(y1))
        if x1 - x0 >= 3 and y1 - y0 >= 5:
            out.append(Box(x0, y0, x1, y1))
    return out


def _crop(gray, b: Box):
    return gray[int(b.y0):int(round(b.y1)), int(b.x0):int(round(b.x1))]


def _recognize(gray, boxes: list[Box]) -> None:
    """Fill box.text/score. Crops are packed into strips and recognised in a few batches (see module doc)."""
    import cv2
    import numpy as np

    if not boxes:
        return
    eng = _engine()
    rec = getattr(eng, "text_rec", None)
    session = getattr(rec, "session", None)
    chars = getattr(getattr(rec, "postprocess_op", None), "character", None)
    if session is None or not chars:  # another rapidocr layout: one public call per box (slower, same result)
        for b in boxes:
            crop = cv2.cvtColor(_crop(gray, b), cv2.COLOR_GRAY2BGR)
            with _lock:
                r = eng(crop, use_det=False, use_cls=False, use_rec=True)
            txts = getattr(r, "txts", None) or ("",)
            b.text, b.score = txts[0], float((getattr(r, "scores", None) or [0.0])[0])
        return
    resized = []
    for b in boxes:
        c = _crop(gray, b)
        h, w = c.shape[:2]
        nw = max(4, int(round(w * REC_H / max(h, 1))))
        resized.append(cv2.resize(c, (nw, REC_H), interpolation=cv2.INTER_AREA if h > REC_H else cv2.INTER_CUBIC))
    strips: list[list[int]] = []
    cur, cur_w = [], 0
    for i, r in enumerate(resized):
        w = r.shape[1]
        if cur and cur_w + STRIP_GAP + w > STRIP_MAX_W:
            strips.append(cur)
            cur, cur_w = [], 0
        cur.append(i)
        cur_w += (STRIP_GAP if cur_w else 0) + w
    if cur:
        strips.append(cur)
    images, spans = [], []
    for s in strips:
        width = sum(resized[i].shape[1] for i in s) + STRIP_GAP * len(s)
        canvas = np.full((REC_H, width), 255, np.uint8)
        x = STRIP_GAP // 2
        sp = []
        for i in s:
            w = resized[i].shape[1]
            canvas[:, x:x + w] = resized[i]
            sp.append((i, x, x + w))
            x += w + STRIP_GAP
        images.append(canvas)
        spans.append(sp)
    found: dict[int, list[tuple[str, float]]] = {i: [] for i in range(len(boxes))}
    order = sorted(range(len(images)), key=lambda j: images[j].shape[1])
    for k in range(0, len(order), REC_BATCH):
        idxs = order[k:k + REC_BATCH]
        maxw = max(images[j].shape[1] for j in idxs)
        batch = np.zeros((len(idxs), 3, REC_H, maxw), np.float32)
        for n, j in enumerate(idxs):
            x = images[j].astype(np.float32) / 127.5 - 1.0
            batch[n, :, :, :x.shape[1]] = x[None, :, :]
        with _lock:
            preds = session(batch)
        steps = preds.shape[1]
        for n, j in enumerate(idxs):
            ids = preds[n].argmax(axis=1)
            probs = preds[n].max(axis=1)
            for t in range(steps):
                cid = int(ids[t])
                if cid == 0 or (t > 0 and cid == int(ids[t - 1])):
                    continue
                x = (t + 0.5) * maxw / steps
                for i, a, b in spans[j]:
                    if a - STRIP_GAP / 2 <= x < b + STRIP_GAP / 2:
                        found[i].append((chars[cid], float(probs[t])))
                        break
    for i, b in enumerate(boxes):
        seq = found[i]
        b.text = "".join(ch for ch, _ in seq).strip()
        b.score = sum(p for _, p in seq) / len(seq) if seq else 0.0


# --- cell text and digit repair ----------------------------------------------------------------------------------

# read for 0 and 1 (also alone in a cell whose neighbours are numbers) ...
_CONFUSED_01 = {"O": "0", "o": "0", "D": "0", "Q": "0", "〇": "0", "○": "0", "°": "0",
                "l": "1", "I": "1", "|": "1", "i": "1", "!": "1", "丨": "1", "]": "1", "[": "1"}
# ... and, only next to real digits, the rarer letter-for-digit confusions
_CONFUSED = {**_CONFUSED_01, "S": "5", "s": "5", "Z": "2", "z": "2", "B": "8", "g": "9", "q": "9", "b": "6"}
_NUMERIC = re.compile(r"^[+\-]?\d[\d,，.．]*%?$")
_NUM_CHARS = set("0123456789,，.．+-%")
_JUNK = re.compile(r"^[.,，、·'`:;：；_~^\"]+$")


def _is_numeric(text: str) -> bool:
    s = text.replace(" ", "")
    return bool(s) and bool(_NUMERIC.match(s))


def repair_digits(text: str, numeric_context: bool) -> str:
    """O→0, l/I/|→1 … inside a cell that is numeric apart from those characters. A cell made only of confusable
    characters (a lone 'O') is repaired only when `numeric_context` (its row or column neighbours are numbers)."""
    s = text.replace(" ", "")
    if not s or _is_numeric(s):
        return text
    if not all(ch in _NUM_CHARS or ch in _CONFUSED for ch in s):
        return text
    has_digit = any(ch.isdigit() for ch in s)
    if not has_digit and not (numeric_context and all(ch in _NUM_CHARS or ch in _CONFUSED_01 for ch in s)):
        return text
    fixed = "".join(_CONFUSED.get(ch, ch) for ch in s)
    return fixed if _is_numeric(fixed) else text


def _join_pieces(pieces: list[Box]) -> str:
    """Text of one cell / one line: pieces grouped into lines by centre-y, each line left to right."""
    if not pieces:
        return ""
    lines = _cluster_lines(pieces)
    out = []
    for ln in lines:
        ln.sort(key=lambda b: b.x0)
        s = ln[0].text
        for a, b in zip(ln, ln[1:]):
            gap = b.x0 - a.x1
            s += (" " if gap > 0.8 * max(a.h, b.h) else "") + b.text
        out.append(s)
    return "\n".join(x for x in out if x)


def _cluster_lines(boxes: list[Box]) -> list[list[Box]]:
    lines: list[list[Box]] = []
    for b in sorted(boxes, key=lambda b: b.cy):
        if lines:
            ln = lines[-1]
            cy = sum(x.cy for x in ln) / len(ln)
            hh = sum(x.h for x in ln) / len(ln)
            if abs(b.cy - cy) < 0.45 * max(hh, b.h):
                ln.append(b)
                continue
        lines.append([b])
    return lines


def _split_on_lines(b: Box, tables: list[TableLayout], v_mask, h_mask) -> list[Box]:
    """A detected box that runs across a ruling line inside a table → one box per side."""
    for t in tables:
        x0, y0, x1, y1 = t.bbox
        if not (x0 - 4 <= b.cx <= x1 + 4 and y0 - 4 <= b.cy <= y1 + 4):
            continue
        cuts = [x for x in t.xs[1:-1] if b.x0 + 6 < x < b.x1 - 6
                and _present(v_mask, "v", x, int(b.y0), int(b.y1), band=3, need=0.6)]
        if cuts:
            return [Box(lo, b.y0, hi, b.y1) for lo, hi in _pieces(b.x0, b.x1, cuts, min_len=4)]
        hcuts = [y for y in t.ys[1:-1] if b.y0 + 6 < y < b.y1 - 6
                 and _present(h_mask, "h", y, int(b.x0), int(b.x1), band=3, need=0.6)]
        if hcuts:
            return [Box(b.x0, lo, b.x1, hi) for lo, hi in _pieces(b.y0, b.y1, hcuts, min_len=6)]
    return [b]


def _pieces(start: float, end: float, cuts: list, min_len: float) -> list[tuple]:
    """The (lo, hi) pieces of the span start..end cut at each of *cuts* (3 px cleared either side of a cut), those at
    least min_len long."""
    out, lo = [], start
    for c in cuts + [end + 3]:
        if c - 3 - lo >= min_len:
            out.append((lo, c - 3))
        lo = c + 3
    return out


def _split_gaps(b: Box, ink, factor: float = 0.6) -> list[Box]:
    """A detected box holding pieces set apart by a blank wider than factor x its height (numbers of neighbouring
    cells of an unruled table, detected as one line) → one box per piece."""
    import numpy as np

    x0, x1, y0, y1 = int(b.x0), int(round(b.x1)), int(b.y0), int(round(b.y1))
    cols = np.nonzero(ink[y0:y1, x0:x1].sum(axis=0) >= 2)[0]
    if len(cols) < 2:
        return [b]
    thr = max(factor * b.h, 8)
    breaks = np.nonzero(np.diff(cols) > thr)[0]
    if len(breaks) == 0:
        return [b]
    pad = 0.2 * b.h
    starts = [cols[0]] + [cols[i + 1] for i in breaks]
    ends = [cols[i] for i in breaks] + [cols[-1]]
    return [Box(max(b.x0, x0 + a - pad), b.y0, min(b.x1, x0 + e + 1 + pad), b.y1) for a, e in zip(starts, ends)]


def _split_vertical(b: Box, text_h: float) -> list[Box]:
    """A tall narrow box is vertical text (one character per line, as in narrow label columns): one box per
    character, read top to bottom (the recogniser only reads horizontal lines)."""
    w = b.x1 - b.x0
    if b.h < 1.8 * w or b.h < 1.5 * text_h:
        return [b]
    n = max(2, round(b.h / w))
    step = b.h / n
    return [Box(b.x0, b.y0 + k * step, b.x1, b.y0 + (k + 1) * step) for k in range(n)]


def _grid_from_layout(t: TableLayout, pieces: dict[tuple[int, int], list[Box]], source: str, page) -> Grid:
    """Cells of a ruled table: the text of each merged region at every position it covers; digits repaired."""
    region_boxes: dict[int, list[Box]] = {}
    for (r, c), bs in pieces.items():
        region_boxes.setdefault(t.origin[r][c], []).extend(bs)
    text = {oid: _join_pieces(bs) for oid, bs in region_boxes.items()}
    cells = [[text.get(t.origin[r][c], "") for c in range(t.n_cols)] for r in range(t.n_rows)]
    return _finish_grid(cells, [row[:] for row in t.origin], source, page)


def _finish_grid(cells: list[list[str]], origin: list[list[int]], source: str, page) -> Grid:
    """Digit repair with row/column context (a cell's neighbours of other origins), origins renumbered."""
    nr = len(cells)
    nc = max((len(r) for r in cells), default=0)

    def numeric_neighbour(r, c):
        oid = origin[r][c]
        for rr, cc in ((r, c - 1), (r, c + 1), (r - 1, c), (r + 1, c)):
            if 0 <= rr < nr and 0 <= cc < nc and origin[rr][cc] not in (oid, PAD) and _is_numeric(cells[rr][cc]):
                return True
        return False

    fixed: dict[int, str] = {}
    for r in range(nr):
        for c in range(nc):
            oid = origin[r][c]
            if oid == PAD or oid in fixed or not cells[r][c]:
                continue
            fixed[oid] = repair_digits(cells[r][c], numeric_neighbour(r, c))
    for r in range(nr):
        for c in range(nc):
            if origin[r][c] in fixed:
                cells[r][c] = fixed[origin[r][c]]
    # renumber origins row-major
    ids: dict[int, int] = {}
    new_origin = [[PAD if o == PAD else ids.setdefault(o, len(ids)) for o in row] for row in origin]
    return Grid(cells=cells, origin=new_origin, source=source, page=page)


# --- unruled tables ----------------------------------------------------------------------------------------------

_DASHES = {"-", "—", "－", "–", "/", "／", "——"}


def _segments(line: list[Box], gap_factor: float) -> list[list[Box]]:
    """Pieces of a text line separated by gaps wider than gap_factor x the box height."""
    line = sorted(line, key=lambda b: b.x0)
    segs = [[line[0]]]
    for b in line[1:]:
        a = segs[-1][-1]
        if b.x0 - max(x.x1 for x in segs[-1]) > gap_factor * max(a.h, b.h):
            segs.append([b])
        else:
            segs[-1].append(b)
    return segs


def _value_like(text: str) -> bool:
    return _is_numeric(repair_digits(text, True)) or text.strip() in _DASHES


def _anchor(line: list[Box]) -> list[Box] | None:
    """The value boxes of a line that reads like a row of an unruled table — a label (optional) then one or more
    numbers, each number set apart by a wide gap, nothing but numbers after the first one — else None."""
    segs = _segments(line, 0.6)
    texts = [_join_pieces(sg) for sg in segs]
    k = next((i for i, t in enumerate(texts) if _value_like(t)), None)
    if k is None or not all(_value_like(t) for t in texts[k:]):
        return None
    values = segs[k:]
    if k == 0 and len(values) < 2:
        return None
    h = max(b.h for b in line)
    edges = [max(b.x1 for b in sg) for sg in segs[max(k - 1, 0):-1]]
    starts = [min(b.x0 for b in sg) for sg in segs[max(k, 1):]]
    if any(b0 - a1 < 1.2 * h for a1, b0 in zip(edges, starts)):
        return None
    return [b for sg in values for b in sg]


def _columns(value_boxes: list[Box]) -> list[list[float]]:
    """Value columns: the x-spans of the value boxes, overlapping spans joined."""
    cols: list[list[float]] = []
    for b in sorted(value_boxes, key=lambda b: b.x0):
        if cols and b.x0 <= cols[-1][1] + 2:
            cols[-1][1] = max(cols[-1][1], b.x1)
        else:
            cols.append([b.x0, b.x1])
    return cols


def _nearest_col(cols: list[list[float]], b: Box) -> int:
    return min(range(len(cols)), key=lambda i: abs((cols[i][0] + cols[i][1]) / 2 - b.cx))


def _label_cells(boxes: list[Box]) -> list[str]:
    """Label boxes of one row → cells: boxes whose x-ranges overlap are one cell (wrapped lines), left to right."""
    groups: list[list[Box]] = []
    for b in sorted(boxes, key=lambda b: b.x0):
        if groups and b.x0 <= max(x.x1 for x in groups[-1]) - 2:
            groups[-1].append(b)
        else:
            groups.append([b])
    return [t for t in (_join_pieces(g) for g in groups) if t]


def _unruled_table(anchors: list[list[Box]], header: list[list[Box]], body: list[Box], source: str, page) -> Grid:
    """A grid from an unruled table: one row per anchor line (its wrapped label lines join it by nearest centre-y),
    value columns from the x-spans of the numbers, header words placed over the columns they sit above."""
    value_boxes = [b for a in anchors for b in a]
    cols = _columns(value_boxes)
    pitch = (cols[-1][1] - cols[0][0]) / max(len(cols) - 1, 1) if len(cols) > 1 else 1e9
    value_left = cols[0][0] - 0.45 * pitch if len(cols) > 1 else cols[0][0] - 2 * max(b.h for b in value_boxes)
    row_y = [sum(b.cy for b in a) / len(a) for a in anchors]
    in_value = {id(b) for b in value_boxes}
    rows_label: list[list[Box]] = [[] for _ in anchors]
    rows_value: list[dict[int, list[Box]]] = [dict() for _ in anchors]
    for a_i, a in enumerate(anchors):
        for b in a:
            rows_value[a_i].setdefault(_nearest_col(cols, b), []).append(b)
    for b in body:
        if id(b) in in_value:
            continue
        r = min(range(len(row_y)), key=lambda i: abs(row_y[i] - b.cy))
        if b.cx >= value_left:
            rows_value[r].setdefault(_nearest_col(cols, b), []).append(b)
        else:
            rows_label[r].append(b)
    # header lines: a single piece is a caption over the whole table; a few pieces are group headings (a row of
    # their own); many pieces are the column words, joined per column over all such lines (商业/企业 → 商业企业)
    header_rows: list[tuple[float, str, list[Box], dict[int, list[Box]]]] = []
    words: dict[int, list[Box]] = {}
    word_labels: list[Box] = []
    for line in header:
        segs = _segments(line, 0.6)
        y = min(b.cy for b in line)
        if len(segs) == 1:
            header_rows.append((y, "caption", line, {}))
        elif len(segs) < max(2, len(cols) / 2):
            d: dict[int, list[Box]] = {}
            lab = []
            for sg in segs:
                for b in sg:
                    (d.setdefault(_nearest_col(cols, b), []) if b.cx >= value_left else lab).append(b)
            header_rows.append((y, "group", lab, d))
        else:
            for b in line:
                if b.cx >= value_left:
                    words.setdefault(_nearest_col(cols, b), []).append(b)
                else:
                    word_labels.append(b)
    if words or word_labels:
        header_rows.append((min(b.cy for b in [*word_labels, *(x for v in words.values() for x in v)]), "words",
                            word_labels, words))
    header_rows.sort(key=lambda x: x[0])
    all_rows = [(kind, lab, val) for _, kind, lab, val in header_rows] + \
               [("body", lab, val) for lab, val in zip(rows_label, rows_value)]
    labels = [_label_cells(lab) if kind != "caption" else [] for kind, lab, _ in all_rows]
    n_lab = max((len(x) for x in labels), default=0)
    width = n_lab + len(cols)
    cells, origin, oid = [], [], 0
    for lab, (kind, boxes, val) in zip(labels, all_rows):
        if kind == "caption":   # one cell spanning the table, like a merged caption row of a ruled table
            cells.append([_join_pieces(boxes)] * width)
            origin.append([oid] * width)
            oid += 1
            continue
        crow, orow = [""] * (n_lab - len(lab)), [PAD] * (n_lab - len(lab))
        for t in lab:
            crow.append(t)
            orow.append(oid)
            oid += 1
        for c in range(len(cols)):
            crow.append(_join_pieces(val.get(c, [])))
            orow.append(oid)
            oid += 1
        cells.append(crow)
        origin.append(orow)
    return _finish_grid(cells, origin, source, page)


def _unruled_regions(lines: list[list[Box]], text_h: float) -> list[tuple[int, int, int, list[list[Box]]]]:
    """(first header line, first anchor line, last line, anchors) of every unruled table among the text lines.
    Anchors closer than 4 text heights make one table; lines with words above the value columns just above the
    first anchor are its header."""
    anchors = [(i, _anchor(ln)) for i, ln in enumerate(lines)]
    anchors = [(i, a) for i, a in anchors if a]
    regions, cur = [], []
    for i, a in anchors:
        if cur and min(b.cy for b in a) - max(b.cy for b in lines[cur[-1][0]]) > 4 * text_h:
            regions.append(cur)
            cur = []
        cur.append((i, a))
    if cur:
        regions.append(cur)
    out = []
    for reg in regions:
        n_values = max(len(a) for _, a in reg)
        if len(reg) < 2 and n_values < 3:
            continue
        first, last = reg[0][0], reg[-1][0]
        cols = _columns([b for _, a in reg for b in a])
        value_left = cols[0][0] - 2 * text_h
        top = first
        while top > 0:
            prev = lines[top - 1]
            gap = min(b.cy for b in lines[top]) - max(b.cy for b in prev)
            if gap > 3 * text_h or not any(b.cx >= value_left for b in prev) or _anchor(prev):
                break
            top -= 1
        # wrapped label lines right below the last row
        while last + 1 < len(lines) and not any(b.cx >= value_left for b in lines[last + 1]) \
                and min(b.cy for b in lines[last + 1]) - max(b.cy for b in lines[last]) < 1.2 * text_h \
                and min(b.x0 for b in lines[last + 1]) < value_left:
            last += 1
        out.append((top, first, last, [a for _, a in reg]))
    return out


# --- page → blocks -----------------------------------------------------------------------------------------------

def _flat(grid: Grid) -> str:
    return "\n".join(" ".join(dict.fromkeys(c for c in row if c)) for row in grid.cells)


def _read(gray, page: int | None, where: str, table_name) -> list[Block]:
    """Everything after loading: deskew, detect, tables, recognise, assemble blocks in reading order."""
    import cv2
    import numpy as np

    if max(gray.shape) < 1000:  # small screenshots: enlarge so that strokes and lines have some width
        gray = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    gray, _angle = deskew(gray)
    boxes = _detect(gray)
    if not boxes:
        return []
    text_h = float(np.median([b.h for b in boxes]))
    binimg = _binary(gray)
    tables, (h_mask, v_mask) = find_tables(gray, text_h, binimg)
    # recognition on the page without its ruling lines (a line next to a digit reads as '1' or '|')
    clean = _erase_rules(gray, tables, h_mask, v_mask)
    ink = clean < 150
    pieces: list[Box] = []
    for b in boxes:
        for p in (_split_on_lines(b, tables, v_mask, h_mask) if tables else [b]):
            for q in _split_gaps(p, ink):
                pieces.extend(_split_vertical(q, text_h))
    _recognize(clean, pieces)
    pieces = [b for b in pieces if b.text and not (_JUNK.match(b.text) and b.h < 0.8 * text_h)]
    return assemble_blocks(pieces, tables, page, where, table_name)


def assemble_blocks(pieces: list[Box], tables: list[TableLayout], page: int | None, where: str,
                    table_name) -> list[Block]:
    """Recognised boxes + ruled table layouts → blocks in reading order: a grid per ruled table, a grid per run
    of unruled table-like lines, a text block per other line. `table_name()` gives the next table's name."""
    items: list[tuple[float, int, Block]] = []
    in_table: dict[int, dict[tuple[int, int], list[Box]]] = {i: {} for i in range(len(tables))}
    outside: list[Box] = []
    for b in pieces:
        for i, t in enumerate(tables):
            rc = t.cell_at(b.cx, b.cy)
            if rc is not None:
                in_table[i].setdefault(rc, []).append(b)
                break
        else:
            outside.append(b)
    for i, t in enumerate(tables):
        if not in_table[i]:
            continue
        grid = _grid_from_layout(t, in_table[i], "", page)
        distinct = max(len({o for o, txt in zip(orow, crow) if txt}) for orow, crow in zip(grid.origin, grid.cells))
        if grid.n_cols < 2 or distinct < 2:  # a frame around text, not a data table
            outside.extend(b for bs in in_table[i].values() for b in bs)
            continue
        grid.source = table_name()
        items.append((t.bbox[1], 1, Block(kind="table", text=_flat(grid), grid=grid, location=grid.source,
                                          page=page)))
    # text lines, and unruled tables (rows of a label and far-apart numbers, see _anchor)
    lines_ = _cluster_lines(outside)
    lines_.sort(key=lambda ln: min(b.y0 for b in ln))
    text_h = sorted(b.h for b in outside)[len(outside) // 2] if outside else 0.0
    taken: set[int] = set()
    for top, first, last, anchors in _unruled_regions(lines_, text_h):
        header = lines_[top:first]
        body = [b for ln in lines_[first:last + 1] for b in ln]
        grid = _unruled_table(anchors, header, body, table_name(), page)
        y = min(b.y0 for ln in lines_[top:last + 1] for b in ln)
        items.append((y, 1, Block(kind="table", text=_flat(grid), grid=grid, location=grid.source, page=page)))
        taken.update(range(top, last + 1))
    for i, ln in enumerate(lines_):
        if i in taken:
            continue
        segs = _segments(ln, 0.8)
        s = " ".join(_join_pieces(seg).replace("\n", "") for seg in segs).strip()
        if s:
            items.append((min(b.y0 for b in ln), 0, Block(kind="text", text=s, location=where, page=page)))
    items.sort(key=lambda x: (x[0], x[1]))
    return [b for _, _, b in items]


def ocr_page(image, page_no: int, source: str = "") -> list[Block]:
    """OCR one page image (PIL, ~200 dpi) of a PDF without a text layer. Tables come back as grids named
    "OCR第{page_no}页表格{n}", text lines with location "OCR第{page_no}页". `source` (the file) is only used in
    log messages."""
    counter = iter(range(1, 10_000))
    log.debug("OCR %s page %s", source, page_no)
    return _read(_to_gray(image), page_no, f"OCR第{page_no}页",
                 lambda: f"OCR第{page_no}页表格{next(counter)}")


def ocr_image_bytes(data: bytes, source: str = "图片") -> list[Block]:
    """OCR a .png/.jpg (or an <img> table of a web page). `source` is a short label of the image ("图片",
    "网页图片2"): tables are named "OCR{source}表格{n}", text lines located "OCR{source}". Multi-frame images
    (TIFF/GIF) are read frame by frame."""
    import io

    from PIL import Image, ImageSequence

    from PIL import ImageOps

    label = source or "图片"
    counter = iter(range(1, 10_000))
    img = Image.open(io.BytesIO(data))
    blocks: list[Block] = []
    frames = list(ImageSequence.Iterator(img)) if getattr(img, "n_frames", 1) > 1 else [img]
    for frame in frames:
        if len(frames) == 1:
            frame = ImageOps.exif_transpose(frame)  # phone photos carry their orientation in EXIF
        blocks.extend(_read(_to_gray(frame), None, f"OCR{label}", lambda: f"OCR{label}表格{next(counter)}"))
    return blocks
