"""Word-export-style HTML (`html_word`): MsoNormal paragraphs, `<table border="1">` with mso styles, rowspan/colspan
exactly as the real tables, optionally wrapped in a CMS page (site header, nav, breadcrumb, footer, scripts,
PubDate/ArticleTitle meta) and encoded as GBK."""
from __future__ import annotations

import html

from pipeline.synth.numbers import Report, rng
from pipeline.synth.render import Cells, GCell, t2_tables, t3_table, t4_table

P_BODY = ("<p class=MsoNormal style='text-indent:32.0pt;line-height:28.0pt;mso-line-height-rule:exactly'>"
          "<span style='font-size:16.0pt;font-family:仿宋_GB2312;mso-hansi-font-family:\"Times New Roman\"'>{}</span></p>")
P_H1 = ("<p class=MsoNormal style='text-indent:32.0pt;line-height:28.0pt;mso-line-height-rule:exactly'>"
        "<span style='font-size:16.0pt;font-family:黑体;mso-hansi-font-family:\"Times New Roman\"'>{}</span></p>")
P_H2 = ("<p class=MsoNormal style='text-indent:32.0pt;line-height:28.0pt;mso-line-height-rule:exactly'>"
        "<span style='font-size:16.0pt;font-family:楷体_GB2312;mso-hansi-font-family:\"Times New Roman\"'>{}</span></p>")
P_TITLE = ("<p class=MsoNormal align=center style='text-align:center;line-height:36.0pt;mso-line-height-rule:exactly'>"
           "<span style='font-size:22.0pt;font-family:方正小标宋简体'>{}</span></p>")
P_SIGN = ("<p class=MsoNormal align=right style='text-align:right;line-height:28.0pt;mso-line-height-rule:exactly'>"
          "<span style='font-size:16.0pt;font-family:仿宋_GB2312'>{}</span></p>")
P_EMPTY = "<p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p>"
TD_STYLE = ("width:{w}pt;border:solid windowtext 1.0pt;mso-border-alt:solid windowtext .5pt;"
            "padding:0cm 5.4pt 0cm 5.4pt")
SPAN_CELL = "<span style='font-size:10.5pt;font-family:宋体;mso-ascii-font-family:\"Times New Roman\"'>{}</span>"


def esc(text: str) -> str:
    """HTML text: escaped, with U+00A0 written as &nbsp; (it has no GBK code)."""
    return html.escape(text, quote=False).replace("\u00a0", "&nbsp;")


def _cell_html(cell: GCell, width_pt: float, label_breaks: str | None) -> str:
    attrs = f" width={int(width_pt * cell.colspan * 4 / 3)}"
    if cell.colspan > 1:
        attrs += f" colspan={cell.colspan}"
    if cell.rowspan > 1:
        attrs += f" rowspan={cell.rowspan}"
    align = "center" if cell.kind in ("value", "header", "caption") else "left"
    p_open = (f"<p class=MsoNormal align={align} style='text-align:{align};line-height:15.0pt;"
              "mso-line-height-rule:exactly'>")
    text = cell.text
    if text.strip(" \u3000\u00a0") == "" and cell.kind == "value":
        inner = p_open + "<span lang=EN-US style='font-size:10.5pt'><o:p>" + (esc(text) or "&nbsp;") + "</o:p></span></p>"
    else:
        pieces = text.split("\n")
        if len(pieces) > 1 and label_breaks == "p":
            inner = "".join(p_open + SPAN_CELL.format(esc(x)) + "</p>" for x in pieces[:-1])
            inner += p_open + SPAN_CELL.format(esc(pieces[-1])) + "<span lang=EN-US><o:p></o:p></span></p>"
        else:
            joiner = "<br/>" if label_breaks == "br" else ""
            inner = (p_open + SPAN_CELL.format(joiner.join(esc(x) for x in pieces))
                     + "<span lang=EN-US><o:p></o:p></span></p>")
    return (f"  <td{attrs} valign=middle style='{TD_STYLE.format(w=round(width_pt * cell.colspan, 2))}'>\n"
            f"  {inner}\n  </td>")


def table_html(rows: list[list[GCell]], total_width_pt: float, label_breaks: str | None) -> str:
    width = sum(c.colspan for c in rows[0])
    unit = total_width_pt / width
    out = ["<table class=MsoNormalTable border=\"1\" cellspacing=0 cellpadding=0 "
           "style='border-collapse:collapse;border:none;mso-border-alt:solid windowtext .5pt;"
           "mso-yfti-tbllook:1184;mso-padding-alt:0cm 5.4pt 0cm 5.4pt'>"]
    for i, row in enumerate(rows):
        flag = ";mso-yfti-firstrow:yes" if i == 0 else (";mso-yfti-lastrow:yes" if i == len(rows) - 1 else "")
        out.append(f" <tr style='mso-yfti-irow:{i}{flag}'>")
        out.extend(_cell_html(c, unit, label_breaks) for c in row)
        out.append(" </tr>")
    out.append("</table>")
    return "\n".join(out)


def _article(rep: Report, blocks: list, cells: Cells, *, include_title: bool, t2_layout: str,
             label_breaks: str | None) -> str:
    out = []
    breaks = bool(label_breaks)
    for b in blocks:
        kind = b[0]
        if kind == "title":
            if include_title:
                out.append(P_TITLE.format(esc(b[1])))
                out.append(P_EMPTY)
        elif kind == "p":
            out.append(P_BODY.format(esc(b[1])))
        elif kind == "h1":
            out.append(P_H1.format(esc(b[2])))
        elif kind == "h2":
            out.append(P_H2.format(esc(b[1])))
        elif kind == "sign":
            out.append(P_EMPTY)
            out.extend(P_SIGN.format(esc(x)) for x in b[1])
        elif kind == "table":
            if b[1] == "t2":
                tables = t2_tables(rep, cells, split=(t2_layout == "split"), breaks=breaks)
                width = 415.0
            elif b[1] == "t3":
                tables, width = [t3_table(rep, cells, breaks=breaks)], 440.0
            else:
                tables, width = [t4_table(rep, cells, breaks=breaks)], 440.0
            for t in tables:
                out.append("<div align=center>")
                out.append(table_html(t, width, label_breaks))
                out.append("</div>")
                out.append(P_EMPTY)
    return "\n".join(out)


WORD_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml"
xmlns:o="urn:schemas-microsoft-com:office:office"
xmlns:w="urn:schemas-microsoft-com:office:word"
xmlns:m="http://schemas.microsoft.com/office/2004/12/omml"
xmlns="http://www.w3.org/TR/REC-html40">

<head>
<meta http-equiv=Content-Type content="text/html; charset={charset}">
<meta name=ProgId content=Word.Document>
<meta name=Generator content="Microsoft Word 15">
<meta name=Originator content="Microsoft Word 15">
<title>{title}</title>
<!--[if gte mso 9]><xml>
 <o:DocumentProperties>
  <o:Author>{author}</o:Author>
  <o:Pages>{pages}</o:Pages>
  <o:Version>16.00</o:Version>
 </o:DocumentProperties>
</xml><![endif]-->
<style>
<!--
 /* Font Definitions */
 @font-face
	{{font-family:宋体;
	panose-1:2 1 6 0 3 1 1 1 1 1;
	mso-font-charset:134;}}
 @font-face
	{{font-family:仿宋_GB2312;
	mso-font-charset:134;}}
 /* Style Definitions */
 p.MsoNormal, li.MsoNormal, div.MsoNormal
	{{mso-style-unhide:no;
	mso-style-qformat:yes;
	margin:0cm;
	text-align:justify;
	text-justify:inter-ideograph;
	mso-pagination:none;
	font-size:10.5pt;
	font-family:"Calibri",sans-serif;}}
@page WordSection1
	{{size:595.3pt 841.9pt;
	margin:72.0pt 90.0pt 72.0pt 90.0pt;
	mso-header-margin:42.55pt;
	mso-footer-margin:49.6pt;
	mso-paper-source:0;
	layout-grid:15.6pt;}}
div.WordSection1
	{{page:WordSection1;}}
-->
</style>
</head>

<body lang=ZH-CN style='tab-interval:21.0pt;text-justify-trim:punctuation'>

<div class=WordSection1 style='layout-grid:15.6pt'>
"""

WORD_TAIL = """
</div>

</body>

</html>
"""

PAGE_HEAD = """<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset={charset}">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="SiteName" content="{site_name}">
<meta name="SiteDomain" content="{site}">
<meta name="SiteIDCode" content="{site_code}">
<meta name="ColumnName" content="政府信息公开年报">
<meta name="ColumnType" content="政府信息公开年报">
<meta name="ArticleTitle" content="{title}">
<meta name="PubDate" content="{pub}">
<meta name="ContentSource" content="{agency}">
<meta name="Keywords" content="政府信息公开,年度报告">
<meta name="Url" content="{url}">
<title>{title}_政府信息公开年报_{site_name}</title>
<link rel="stylesheet" type="text/css" href="/images/common.css">
<link rel="stylesheet" type="text/css" href="/images/article.css">
<script type="text/javascript" src="/js/jquery.min.js"></script>
<script type="text/javascript">
  var siteId = "{site_code}", columnId = "{column_id}";
  var _hmt = _hmt || [];
  (function() {{
    var hm = document.createElement("script");
    hm.src = "/js/stat.js?sid=" + siteId;
    var s = document.getElementsByTagName("script")[0];
    s.parentNode.insertBefore(hm, s);
  }})();
</script>
</head>
<body>
<div class="topbar">
  <div class="container">
    <span class="welcome">欢迎访问{site_name}门户网站</span>
    <a href="javascript:void(0)" id="wza">无障碍</a> <a href="javascript:void(0)" id="zzms">长者模式</a>
    <a href="https://www.gov.cn/" target="_blank">中国政府网</a>
  </div>
</div>
<div class="header">
  <div class="container">
    <div class="logo"><a href="/"><img src="/images/logo.png" alt="{site_name}"></a></div>
    <div class="search">
      <form action="/search/" method="get" target="_blank">
        <input type="text" name="q" placeholder="请输入关键词"><input type="submit" value="搜索">
      </form>
    </div>
  </div>
</div>
<div class="nav">
  <ul class="container">
    <li><a href="/">首页</a></li>
    <li><a href="/zwgk/">政务公开</a></li>
    <li><a href="/zwfw/">政务服务</a></li>
    <li><a href="/hdjl/">互动交流</a></li>
    <li><a href="/zjwm/">走进{place}</a></li>
  </ul>
</div>
<div class="main container">
  <div class="breadcrumb">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; <a href="/zwgk/zfxxgk/">政府信息公开</a> &gt; <a href="/zwgk/zfxxgk/zfxxgknb/">政府信息公开年报</a></div>
  <div class="article">
    <h1 class="article-title">{title}</h1>
    <div class="article-info">
      <span>发布时间：{pub}</span> <span>来源：{agency}</span>
      <span>字号：<a href="javascript:doZoom(18)">大</a> <a href="javascript:doZoom(16)">中</a> <a href="javascript:doZoom(14)">小</a></span>
    </div>
    <div class="article-content TRS_Editor" id="zoom">
<div class=WordSection1 style='layout-grid:15.6pt'>
"""

PAGE_TAIL = """
</div>
    </div>
    <div class="article-tools">
      <a href="javascript:window.print()">【打印本页】</a> <a href="javascript:window.close()">【关闭窗口】</a>
    </div>
  </div>
</div>
<div class="footer">
  <div class="container">
    <p>主办单位：{site_name}办公室　　承办单位：{site_name}大数据中心</p>
    <p>网站标识码：{site_code}　　<a href="https://beian.miit.gov.cn/" target="_blank">ICP备{icp}号</a></p>
    <p>建议使用1920x1080分辨率浏览本网站</p>
  </div>
</div>
<script type="text/javascript" src="/js/share.js"></script>
<script type="text/javascript">
  function doZoom(size) {{ document.getElementById("zoom").style.fontSize = size + "px"; }}
</script>
</body>
</html>
"""


def render_html(rep: Report, blocks: list, *, encoding: str = "utf-8", chrome: bool = False,
                t2_layout: str = "single", label_breaks: str | None = "br", junk: bool = False,
                url: str | None = None, seed=None, **_ignored) -> bytes:
    enc = encoding.lower()
    if enc not in ("utf-8", "gbk"):
        raise ValueError("html_word supports encoding utf-8 or gbk")
    cells = Cells(rep, rep.seed if seed is None else seed, junk=junk)
    a = rep.agency
    site = a.site or "www.example.gov.cn"
    site_name = a.site_name or a.name
    r = rng(rep.seed, "html")
    if chrome:
        ym, ymd = rep.published_at[:7].replace("-", ""), rep.published_at[:10].replace("-", "")
        url = url or f"https://{site}/zwgk/zfxxgk/zfxxgknb/{ym}/t{ymd}_{10000 + r.randint(0, 89999)}.html"
        place = site_name[:-4] if site_name.endswith("人民政府") else site_name
        fields = dict(charset=enc, site_name=esc(site_name), site=site, site_code=str(r.randint(10 ** 9, 10 ** 10 - 1)),
                      title=esc(rep.title), pub=rep.published_at, agency=esc(a.name), url=url,
                      column_id=r.randint(100, 9999), place=esc(place), icp=f"{r.randint(10 ** 7, 10 ** 8 - 1)}")
        head = PAGE_HEAD.format(**fields)
        tail = PAGE_TAIL.format(**fields)
        body = _article(rep, blocks, cells, include_title=False, t2_layout=t2_layout, label_breaks=label_breaks)
    else:
        head = WORD_HEAD.format(charset=enc, title=esc(rep.title), author=esc(a.name), pages=r.randint(4, 9))
        tail = WORD_TAIL
        body = _article(rep, blocks, cells, include_title=True, t2_layout=t2_layout, label_breaks=label_breaks)
    return (head + body + tail).encode("gbk" if enc == "gbk" else "utf-8")
