"""Report metadata inferred from the document: title, agency, year, publication date, agency kind and level."""
from __future__ import annotations

import re

from ..nfkc import nfkc

_TITLE = re.compile(r"(?P<pre>[^\n。]{0,40}?)(?P<year>(?:19|20)\d{2})\s*年\s*(?:度)?\s*(?P<mid>[^\n。]{0,30}?)政府信息公开(?:工作)?\s*年\s*度\s*报\s*告")
_DATE = re.compile(r"((?:19|20)\d{2})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})\s*日?")
_PUB_HINT = re.compile(r"(发布时间|发布日期|公开日期|成文日期|日期|时间)\s*[:：]?\s*((?:19|20)\d{2}\s*[-年/.]\s*\d{1,2}\s*[-月/.]\s*\d{1,2})")
_SITE_SUFFIX = re.compile(r"[_\-|—–]\s*[^_\-|—–]{0,30}$")


def _date(text: str) -> str:
    m = _DATE.search(text or "")
    if not m:
        return ""
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return ""
    return f"{y:04d}-{mo:02d}-{d:02d}"


def find_title(doc_title: str, text_head: str) -> str:
    for cand in (doc_title, text_head):
        if not cand:
            continue
        flat = nfkc(cand)
        flat = re.sub(r"[ \t\u3000]+", "", flat)
        joined = flat.replace("\n", "")
        m = _TITLE.search(joined)
        if m:
            return re.sub(r"^(正文|标题[:：]?|#)+", "", m.group(0)).strip()
    return _SITE_SUFFIX.sub("", doc_title).strip() if doc_title else ""


def agency_year(title: str) -> tuple[str, int | None]:
    m = _TITLE.search(title or "")
    if not m:
        return "", None
    pre = re.sub(r"^(正文|标题|[#\s])+", "", m.group("pre")).strip()
    mid = m.group("mid").strip()
    agency = pre or mid
    agency = re.sub(r"(关于)?$", "", agency)
    return agency, int(m.group("year"))


def publication_date(meta: dict, text: str) -> str:
    for key in ("published_at", "pubdate", "publishdate", "firstpublishedtime", "article:published_time"):
        if meta.get(key):
            d = _date(meta[key])
            if d:
                return d
    for m in _PUB_HINT.finditer(text[:3000]):
        if re.search(r"(采集|抓取|生成|更新|访问)$", text[max(0, m.start() - 2):m.start()]):
            continue  # a crawler's own timestamp, not the publication date
        d = _date(m.group(2))
        if d:
            return d
    # 落款: the last date in the final lines of the document
    tail = text[-400:]
    dates = list(_DATE.finditer(tail))
    if dates:
        return _date(dates[-1].group(0))
    return ""


def agency_kind(agency: str) -> str:
    a = agency or ""
    if re.search(r"(乡|镇|街道办事处|街道)(人民政府)?$", a):
        return "township"
    if re.search(r"人民政府$", a) or re.search(r"(管委会|管理委员会)$", a) or re.fullmatch(r".{2,10}[省市县区旗州盟]", a) \
            or re.fullmatch(r".{2,12}综合实验区", a):
        return "gov"
    return "dept"


def agency_level(agency: str) -> str:
    a = agency or ""
    if re.search(r"(乡|镇|街道)", a[-6:]):
        return "township"
    if re.match(r"^(国务院|国家|中国|中华人民共和国)", a) or re.search(r"^(教育部|财政部|商务部|外交部|公安部|司法部|民政部|审计署)", a):
        return "central"
    if re.match(r"^(北京市|天津市|上海市|重庆市)", a) and not re.search(r"[区县]", a[3:]):
        return "province"
    if re.match(r"^.{2,8}(省|自治区)", a) and not re.search(r"[市州盟]", a[3:]):
        return "province"
    if re.search(r"综合实验区|新区", a) and not re.search(r"[县镇乡]", a):
        return "city"
    if re.search(r"[县旗]|.{2,}区(?!域)", a):
        return "county"
    if re.search(r"[市州盟]", a):
        return "city"
    return ""
