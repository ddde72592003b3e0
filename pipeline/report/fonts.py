"""CJK font registration for matplotlib (reusable by any stage that draws Chinese text).

The font comes from the PyPI package ``noto-cjk-sans-otc`` (a .ttc collection, no system install needed).
The collection's first face is *Noto Sans CJK JP*, which draws some Chinese characters the Japanese way, so we
always select the Simplified Chinese face by name: ``Noto Sans CJK SC``.

Usage::

    from pipeline.report import fonts
    with matplotlib.rc_context(fonts.cjk_rc_params()):
        fig = Figure(); ...; FigureCanvasAgg(fig); fig.savefig(...)

Everything here is idempotent and thread-safe; nothing changes the global ``rcParams`` unless
:func:`apply_cjk_rc_params` is called explicitly.
"""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path

CJK_FAMILY = "Noto Sans CJK SC"
FONT_PACKAGE = "noto-cjk-sans-otc"
FONT_FILE = "NotoSansCJK-Regular.ttc"
# Latin fallback for glyphs the CJK face lacks (matplotlib falls back per glyph across this list).
FALLBACK_FAMILIES = ("DejaVu Sans",)

_lock = threading.Lock()
_registered: str | None = None


class CJKFontError(RuntimeError):
    """The CJK font package is missing or does not contain the expected face."""


def cjk_font_path() -> Path:
    """Absolute path of the .ttc inside the installed ``noto-cjk-sans-otc`` package."""
    try:
        import noto_cjk_sans_otc  # type: ignore[import-not-found]

        path = Path(str(noto_cjk_sans_otc.FONT_PATH))
        if path.is_file():
            return path.resolve()
    except (ImportError, AttributeError):
        pass
    # Fallback: look through the distribution's file list (robust to a changed module layout).
    try:
        dist = metadata.distribution(FONT_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise CJKFontError(
            f"未安装中文字体包 {FONT_PACKAGE} | the font package {FONT_PACKAGE} is not installed") from exc
    for f in dist.files or ():
        if f.name.lower().endswith((".ttc", ".otc")):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path.resolve()
    raise CJKFontError(f"字体包 {FONT_PACKAGE} 中没有 .ttc 文件 | no .ttc file found in {FONT_PACKAGE}")


def register_cjk_font() -> str:
    """Add the collection to matplotlib's font manager (once) and return the family name to use."""
    global _registered
    if _registered is not None:
        return _registered
    with _lock:
        if _registered is not None:
            return _registered
        from matplotlib import font_manager

        path = cjk_font_path()
        known = {(Path(e.fname).resolve(), e.name) for e in font_manager.fontManager.ttflist}
        if (path, CJK_FAMILY) not in known:
            font_manager.fontManager.addfont(str(path))
            names = {e.name for e in font_manager.fontManager.ttflist if Path(e.fname).resolve() == path}
            if CJK_FAMILY not in names:
                raise CJKFontError(
                    f"字体文件 {path} 中没有 {CJK_FAMILY}（matplotlib 可能只读取了集合的第一个字体）"
                    f" | face {CJK_FAMILY!r} not registered from {path} (found {sorted(names)}); "
                    "matplotlib >= 3.10 is needed to load every face of a .ttc collection")
        _registered = CJK_FAMILY
        return _registered


def cjk_families() -> list[str]:
    """Font family list: the SC face first, then Latin fallbacks."""
    return [register_cjk_font(), *FALLBACK_FAMILIES]


def cjk_rc_params() -> dict:
    """rcParams for ``matplotlib.rc_context``: CJK face, ASCII minus sign, deterministic output.

    ``font.family`` holds the concrete family names (not ``sans-serif``), so every Text created under these
    params keeps the CJK face even if it is drawn after the context has been left.
    """
    families = cjk_families()
    return {
        "font.family": families,
        "font.sans-serif": families,
        "axes.unicode_minus": False,
    }


def apply_cjk_rc_params() -> None:
    """Set the CJK rcParams globally (for notebooks and scripts; library code should prefer rc_context)."""
    import matplotlib

    matplotlib.rcParams.update(cjk_rc_params())


def cjk_font_properties(**kwargs):
    """A ``FontProperties`` for the SC face (e.g. for an explicit ``fontproperties=`` argument)."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(family=cjk_families(), **kwargs)
