"""The prose of a synthetic report, as an ordered list of blocks shared by every renderer.

Blocks: ("title", text) · ("p", text) · ("h1", section_id, heading) · ("h2", text) · ("table", "t2"|"t3"|"t4") ·
("sign", [agency, date]). Section headings come from the template (pipeline.templates); phrasing varies with the
seed; numbers quoted in the prose are the PUBLISHED table values, so the narrative agrees with the tables.
Section 五 names this year's problems and how last year's problems (from `prev`, when given) were rectified.
"""
from __future__ import annotations

import copy

from pipeline.synth.numbers import TOTAL_COL, Report, num, rng

FORMAT_DOC = {"gb2021": "国办公开办函〔2021〕30号", "gb2019": "国办公开办函〔2019〕60号"}

# (id, short name, problem sentence, improvement sentence, rectification sentence)
PROBLEMS = [
    ("interpretation", "政策解读形式较为单一",
     "政策解读形式较为单一，图表图解、音视频等多样化解读运用不够，解读的针对性和通俗性有待增强",
     "丰富政策解读形式，综合运用图表图解、短视频、在线访谈等方式开展解读，提升解读的针对性和可读性",
     "组织业务科室围绕重要政策文件开展多形式解读，图解、视频类解读产品占比明显提高"),
    ("timeliness", "信息更新不够及时",
     "个别栏目信息更新不够及时，部分动态类信息发布存在滞后现象",
     "建立栏目更新台账和定期巡查机制，明确各栏目责任人和更新时限，确保信息发布及时准确",
     "建立栏目更新责任清单，实行每周巡查、每月通报，栏目更新滞后问题得到有效解决"),
    ("application", "依申请公开答复规范化水平有待提高",
     "依申请公开答复文书的规范化水平有待提高，个别答复告知内容不够具体",
     "加强依申请公开答复文书的合法性审查，规范告知书格式和救济途径告知，提升答复质量",
     "制定依申请公开答复文书范本，落实法律顾问审核机制，答复规范性明显提升"),
    ("key_areas", "重点领域信息公开深度不够",
     "重点领域信息公开的深度和广度还不够，部分事项只公开结果、未公开过程",
     "聚焦重点领域和关键环节，推进决策、执行、管理、服务、结果全过程公开",
     "梳理重点领域公开事项清单，逐项明确公开内容、时限和责任主体，公开的完整性进一步提高"),
    ("training", "工作人员业务能力有待提升",
     "部分工作人员对《条例》理解不够深入，业务能力与新形势新要求还有差距",
     "加强政务公开业务培训，通过专题培训、以会代训、案例研讨等方式提升工作人员能力",
     "组织开展政务公开专题培训，覆盖全体信息员，业务能力得到有效提升"),
    ("interaction", "政民互动回应不够充分",
     "政务新媒体的互动功能发挥不充分，对社会关切的回应还不够及时",
     "强化政务新媒体互动功能，健全留言办理和回应关切机制，提高回应的时效性和针对性",
     "完善留言办理工作机制，明确办理时限，群众留言均在规定时限内办结回复"),
    ("standardization", "基层政务公开标准化规范化水平不高",
     "基层政务公开标准化规范化建设推进不平衡，标准目录的动态调整不够及时",
     "对照基层政务公开标准目录，动态调整公开事项，推动标准化规范化建设走深走实",
     "对照标准目录开展逐项核查，动态调整公开事项，标准目录覆盖率进一步提高"),
    ("participation", "公众参与渠道有待拓展",
     "公众参与政策制定的渠道不够丰富，意见征集的覆盖面和反馈质量有待提升",
     "拓展意见征集渠道，综合运用座谈会、问卷调查、网络征集等方式，及时公开意见采纳情况",
     "在政策制定过程中广泛征求意见，并同步公开意见采纳情况，公众参与度有所提高"),
]
_PROBLEM = {p[0]: p for p in PROBLEMS}


def plan_story(rep: Report, prev: Report | None) -> dict:
    """Choices that carry from year to year: this year's problems (different from last year's) and phrasing.
    Defects: copied_text takes the source report's story (and its narrative seed); same_problems_as_last_year
    repeats last year's section 五."""
    src = getattr(rep, "copy_source", None)
    if rep.has_defect("copied_text") and src is not None:
        story = copy.deepcopy(src.story)
        story["narrative_seed"] = src.seed
        return story
    story = _plan(rep, prev)
    if rep.has_defect("same_problems_as_last_year") and prev is not None:
        ps = prev.story or {}
        story["problems"] = list(ps.get("problems", []))
        story["prev_problems"] = list(ps.get("prev_problems", []))
        story["variants"]["problems"] = ps.get("variants", {}).get("problems", 0)
        story["narrative_seed_problems"] = prev.seed
    return story


def _plan(rep: Report, prev: Report | None) -> dict:
    r = rng(rep.seed, "story")
    prev_problems = list((prev.story or {}).get("problems", [])) if prev is not None else []
    pool = [p[0] for p in PROBLEMS if p[0] not in prev_problems]
    problems = r.sample(pool, r.choice([2, 3, 3]))
    if not prev_problems:   # a first year in the data: last year's problems are invented (still rectified)
        prev_problems = r.sample([p[0] for p in PROBLEMS if p[0] not in problems], 2)
    prev_variants = (prev.story or {}).get("variants", {}) if prev is not None else {}
    variants = {}
    for key, n in (("intro", 3), ("lead", 4), ("proactive", 3), ("application", 3), ("management", 3),
                   ("platform", 3), ("supervision", 3), ("problems", 3), ("other", 3), ("fee", 2)):
        choices = [i for i in range(n) if i != prev_variants.get(key)] or list(range(n))
        variants[key] = r.choice(choices)
    return {"problems": problems, "prev_problems": prev_problems, "variants": variants,
            "six_parts": r.random() < 0.5}


def _cn_date(iso: str) -> str:
    y, m, d = (int(x) for x in iso[:10].split("-"))
    return f"{y}年{m}月{d}日"


def _place(rep: Report) -> str:
    n = rep.agency.name
    for suffix in ("人民政府",):
        if n.endswith(suffix):
            return n[: -len(suffix)]
    return n


def _office(rep: Report) -> str:
    a = rep.agency
    if a.kind == "gov":
        return f"{_place(rep)}人民政府办公室"
    if a.kind == "township":
        return f"{a.name}党政综合办公室"
    return f"{a.name}办公室"


def _t3_total(rep: Report, row: str):
    cells = rep.t3.get(row)
    if cells is None or ("t3", row) in rep.missing_rows:
        return None
    return cells.get(TOTAL_COL)


def build_blocks(rep: Report) -> list[tuple]:
    """The report in reading order (see module doc)."""
    st = rep.story or {}
    r = rng(st.get("narrative_seed", rep.seed), "narrative")
    D = rep.has_defect
    var = st.get("variants", {})
    a = rep.agency
    me = a.self_ref
    y = rep.year
    tpl = rep.template
    dropped = set(rep.dropped_sections)
    heads = {s["id"]: s["heading"] for s in tpl.sections}
    if D("numbering_shift"):      # 二…六 printed as 一…五 (R-STR-04)
        cn = "一二三四五六"
        heads = {k: (cn[cn.index(h[0]) - 1] + h[1:] if k != "sec.overview" else h) for k, h in heads.items()}
    if D("heading_variant"):      # a known variant of the heading of 五 (R-STR-03)
        heads["sec.problems"] = heads["sec.problems"][:2] + "存在的主要问题及改进措施"
    fmt_doc = FORMAT_DOC["gb2021"] if y >= 2021 else FORMAT_DOC.get(rep.template_id, FORMAT_DOC["gb2019"])
    url = f"https://{a.site}" if a.site else ""
    site_name = a.site_name or a.name
    blocks: list[tuple] = [("title", rep.title)]

    # --- opening -------------------------------------------------------------------------------------------------
    intro = [
        f"本报告根据《中华人民共和国政府信息公开条例》（以下简称《条例》）和《中华人民共和国政府信息公开工作年度报告格式》"
        f"（{fmt_doc}）要求编制。",
        f"根据《中华人民共和国政府信息公开条例》（以下简称《条例》）规定，现向社会公布{a.name}{y}年政府信息公开工作年度报告。",
        f"依据《中华人民共和国政府信息公开条例》（以下简称《条例》）和国务院办公厅政府信息与政务公开办公室有关要求，"
        f"{a.name}编制了{y}年政府信息公开工作年度报告。",
    ][var.get("intro", 0)]
    if st.get("six_parts") and not dropped:
        intro += ("报告全文由总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、政府信息公开行政复议和行政诉讼情况、"
                  "存在的主要问题及改进情况、其他需要报告的事项六个部分组成。")
    blocks.append(("p", intro))
    road = r.choice(["禾兴路", "云岚大道", "白鹭路", "澄溪路", "青禾大道", "文昌路", "府前街"])
    where = f"{url}" if url else "门户网站"
    py = y - 1 if D("wrong_period_year") else y
    period = "" if D("missing_period") else f"本年度报告中所列数据的统计期限自{py}年1月1日起至{py}年12月31日止。"
    blocks.append(("p", period + f"本报告电子版可在{site_name}门户网站（{where}）查阅或下载。"
                        f"如对本报告有疑问，请与{_office(rep)}联系（地址：{road}{r.randint(1, 199)}号），"
                        f"也可拨打12345政务服务便民热线咨询。"))

    # --- 一、总体情况 ---------------------------------------------------------------------------------------------
    blocks.append(("h1", "sec.overview", heads["sec.overview"]))
    lead = [
        f"{y}年，{me}坚持以习近平新时代中国特色社会主义思想为指导，认真贯彻落实《条例》和上级关于政务公开工作的部署要求，"
        f"紧紧围绕中心工作，持续深化政务公开，不断提升政府信息公开工作质效。",
        f"{y}年，在本级政府信息公开工作主管部门的指导下，{me}严格落实《条例》各项规定，以公开促落实、以公开强监管、"
        f"以公开优服务，政府信息公开工作取得积极成效。",
        f"{y}年，{me}把政府信息公开作为建设法治政府、服务型政府的重要抓手，健全工作机制，规范办理流程，强化平台建设，"
        f"各项工作有序推进。",
        f"{y}年，{me}深入贯彻《条例》，对照年度政务公开工作要点逐项抓好落实，推动政务公开工作提质增效。",
    ][var.get("lead", 0)]
    if D("wrong_year_text"):     # last year's opening left in place (R-META-06)
        lead = f"{y - 1}" + lead[len(str(y)):]
    if D("mirror_pinyin"):       # a mirror site injecting pinyin (R-X-04)
        lead += "持续推进政务公(gong)开(kai)和政(zheng)务(wu)服务。"
    blocks.append(("p", lead))

    scale = max(1, a.prof()["apps"])
    n1 = r.randint(40, 120) * (1 + scale // 20)
    blocks.append(("h2", "（一）主动公开"))
    blocks.append(("p", [
        f"{me}坚持“以公开为常态、不公开为例外”，全年通过门户网站、政务新媒体等平台主动公开政府信息{n1}条，"
        f"发布政策解读{r.randint(3, 40)}篇，及时公开财政预决算、重点项目、“双随机、一公开”监管等信息。",
        f"全年主动公开各类政府信息{n1}条，围绕{r.choice(['优化营商环境、乡村振兴', '教育医疗、社会保障', '生态环境保护、安全生产', '重大建设项目、公共资源配置'])}"
        f"等重点领域持续加大公开力度，采用图解、视频等形式解读政策{r.randint(2, 30)}次，回应社会关切{r.randint(1, 25)}次。",
        f"聚焦群众关注关切，{me}及时、准确公开各类政府信息。全年在门户网站发布信息{n1}条，政务新媒体发布信息"
        f"{r.randint(50, 900)}条，召开新闻发布会{r.randint(0, 12)}场。",
    ][var.get("proactive", 0)]))

    new, co = _t3_total(rep, "t3.new_received"), _t3_total(rep, "t3.carried_over")
    tp, cf = _t3_total(rep, "t3.total_processed"), _t3_total(rep, "t3.carried_forward")
    lead_app = [f"{me}严格按照《条例》规定办理政府信息公开申请，规范受理、审查、答复等环节。",
                f"{me}畅通依申请公开渠道，明确受理机构和办理流程，依法保障申请人的合法权益。",
                f"{me}健全依申请公开登记、审核、答复、归档工作机制，做到依法、规范、及时答复。"][var.get("application", 0)]
    if D("narrative_mismatch"):  # the prose quotes another number than the table (R-T3-11)
        k = int(rep.defect("narrative_mismatch").get("k") or 7)
        if k == num(co):
            k += 1
        app_text = lead_app + f"全年新收政府信息公开申请{num(new) + k}件，上年结转{num(co)}件。"
    elif None in (new, co, tp, cf):
        app_text = lead_app + "所有申请均按照法定程序和期限办理。"
    elif num(new) == 0 and num(co) == 0:
        app_text = lead_app + "全年未收到政府信息公开申请。"
    else:
        fwd = f"结转下年度继续办理{cf}件" if cf else "无结转下年度继续办理的申请"
        if var.get("application", 0) == 1:
            np_ = rep.t3["t3.new_received"].get("col.natural_person")
            lp = num(new) - num(np_)
            app_text = (lead_app + f"全年共收到政府信息公开申请{new}件，其中自然人申请{num(np_)}件，法人或其他组织申请{lp}件；"
                        f"上年结转{co}件。全年办结{tp}件，{fwd}。")
        else:
            app_text = (lead_app + f"全年新收政府信息公开申请{new}件，上年结转{co}件；办结{tp}件，{fwd}。"
                        "所有申请均在法定期限内予以答复。")
    if D("all_natural_person"):  # the table counts only natural persons (R-T3-13)
        app_text += "其中有企业提出申请。"
    review = rep.t4.get("t4.review", {}).get(TOTAL_COL)
    lit = [rep.t4.get(g, {}).get(TOTAL_COL) for g in ("t4.litigation_direct", "t4.litigation_after_review")]
    t4_mode = rep.defect("narrative_t4_mismatch").get("mode")
    if t4_mode == "none":        # the prose denies cases the table has (R-T4-03)
        app_text += "全年未发生因政府信息公开引起的行政复议、行政诉讼案件。"
    elif t4_mode == "counts":
        app_text += "全年因政府信息公开工作被申请行政复议2件，被提起行政诉讼1件。"
    elif review is not None and None not in lit:
        if num(review) == 0 and sum(num(x) for x in lit) == 0:
            app_text += "全年未发生因政府信息公开引起的行政复议、行政诉讼案件。"
        else:
            app_text += f"全年因政府信息公开工作被申请行政复议{num(review)}件，被提起行政诉讼{sum(num(x) for x in lit)}件。"
    if not D("missing_aspects"):  # without the 依申请公开 part (R-SEC1-01)
        blocks.append(("h2", "（二）依申请公开"))
        blocks.append(("p", app_text))

    blocks.append(("h2", "（三）政府信息管理"))
    mgmt = [
        f"{me}严格落实公文公开属性源头认定机制，拟制公文时同步明确公开属性；严格执行信息发布审核制度，加强保密审查，全年未发生泄密事件。",
        f"{me}及时更新政府信息公开指南和主动公开目录，完善信息发布“先审后发”和“三审三校”机制，确保发布信息准确规范。",
        f"{me}加强政府信息全生命周期管理，对已公开信息开展常态化清理，及时调整失效、过时信息，确保公开内容准确有效。",
    ][var.get("management", 0)]
    nd = rep.t2.get("t2.normative_doc", {})
    issued = nd.get("col.issued_count", nd.get("col.new_made_count"))
    quote = issued is not None and ("t2", "t2.normative_doc") not in rep.missing_rows and r.random() < 0.7
    if quote or D("narrative_t2_mismatch"):
        word = "行政规范性文件" if rep.template_id == "gb2021" else "规范性文件"
        verb = "制发" if rep.template_id == "gb2021" else "新制作"
        shown = num(issued) + int(rep.defect("narrative_t2_mismatch").get("k") or 0)   # R-T2-07
        mgmt += f"本年{verb}{word}{shown}件，均按规定进行合法性审核并及时公开。"
    blocks.append(("p", mgmt))

    blocks.append(("h2", "（四）政府信息公开平台建设"))
    blocks.append(("p", [
        f"{me}持续加强门户网站信息公开专栏建设，优化栏目设置，规范专栏内容保障；加强政务新媒体管理，全年未发生严重表述错误等问题。",
        f"{me}以政府网站为第一平台，整合政务新媒体、政务公开专区和公开栏等载体，推动公开平台集约化、规范化建设，"
        f"全年更新政务公开专区资料{r.randint(5, 60)}次。",
        f"{me}按照政府网站和政务新媒体工作年度报表要求，加强日常监测和内容保障，及时整改监测发现的问题"
        f"{r.randint(1, 30)}个，公开平台的权威性和便利性不断提升。",
    ][var.get("platform", 0)]))

    blocks.append(("h2", "（五）监督保障"))
    supervision = [
        f"{me}将政务公开工作纳入年度工作考核，明确分管领导和责任科室；主动接受社会评议，通过门户网站征集公众对政务公开工作的意见建议；"
        f"全年未发生因政务公开工作不力而被责任追究的情况。",
        f"{me}健全政务公开工作考核、社会评议和责任追究制度，定期开展自查自评，组织业务培训{r.randint(1, 6)}次；"
        f"本年度未发生政府信息公开工作责任追究情况。",
        f"{me}成立政务公开工作领导小组，将政府信息公开工作纳入工作考核内容，邀请群众代表参与社会评议，对发现的问题督促整改到位，"
        f"全年无责任追究事项。",
    ][var.get("supervision", 0)]
    if D("no_assessment"):       # no 工作考核、社会评议、责任追究 (R-SEC1-02)
        supervision = f"{me}自觉接受人大、政协和社会各界监督，定期听取政务公开工作汇报，研究解决工作中的困难和问题。"
    blocks.append(("p", supervision))

    # --- 二、三、四: the tables -----------------------------------------------------------------------------------
    tables = [[("h1", "sec.proactive", heads["sec.proactive"]), ("table", "t2")],
              [("h1", "sec.applications", heads["sec.applications"]), ("table", "t3")],
              [("h1", "sec.review_litigation", heads["sec.review_litigation"]), ("table", "t4")]]
    image = {rep.defect("table_as_image").get("table")} | ({"t2", "t3", "t4"} if D("no_tables") else set())
    dup = rep.defect("duplicate_table").get("table")
    for part in tables:
        t = part[1][1]
        if t in image:            # the table is an image / attachment (R-STR-05, R-EXT-04)
            part[1] = ("p", "（本部分统计表详见附件）")
        elif t == dup:            # printed twice (R-STR-06)
            part.append(("table", t))
    if D("section_order"):       # 三 printed before 二 (R-STR-02)
        tables[0], tables[1] = tables[1], tables[0]
    for part in tables:
        blocks.extend(part)

    # --- 五、存在的主要问题及改进情况 ---------------------------------------------------------------------------
    if "sec.problems" not in dropped:
        blocks.append(("h1", "sec.problems", heads["sec.problems"]))
        probs = [_PROBLEM[p] for p in st.get("problems", [])]
        prevs = [_PROBLEM[p] for p in st.get("prev_problems", [])]
        ords = ["一是", "二是", "三是", "四是"]
        prob_text = "；".join(f"{ords[i]}{p[2]}" for i, p in enumerate(probs)) + "。"
        fix_text = "；".join(f"{ords[i]}{p[3]}" for i, p in enumerate(probs)) + "。"
        rect = ("针对上一年度报告中提出的" + "、".join(f"“{p[1]}”" for p in prevs) + "等问题，"
                f"{me}逐项制定整改措施并抓好落实：" + "；".join(p[4] for p in prevs) + "，相关问题已整改到位。")
        style = var.get("problems", 0)
        if D("problems_only"):   # problems, no measures, no rectification (R-SEC5-01, R-SEC5-02)
            blocks.append(("p", f"{me}政府信息公开工作还存在以下问题：{prob_text}"))
        elif D("no_rectification"):   # no word on last year's problems (R-SEC5-02)
            blocks.append(("p", f"{y}年，{me}政府信息公开工作取得了一定成效，但仍存在一些问题和不足：{prob_text}"))
            blocks.append(("p", f"下一步，{me}将采取以下改进措施：{fix_text}"))
        elif style == 0:
            blocks.append(("h2", "（一）存在的主要问题"))
            blocks.append(("p", f"{y}年，{me}政府信息公开工作取得了一定成效，但仍存在一些问题和不足：{prob_text}"))
            blocks.append(("h2", "（二）改进情况"))
            blocks.append(("p", rect))
            blocks.append(("p", f"下一步，{me}将采取以下改进措施：{fix_text}"))
        elif style == 1:
            blocks.append(("p", f"{me}政府信息公开工作还存在以下问题：{prob_text}"))
            blocks.append(("p", f"改进措施：{fix_text}"))
            blocks.append(("p", rect))
        else:
            blocks.append(("h2", "（一）上一年度问题整改情况"))
            blocks.append(("p", rect))
            blocks.append(("h2", "（二）存在的主要问题"))
            blocks.append(("p", f"对照新形势新要求，{me}政府信息公开工作仍存在一些不足：{prob_text}"))
            blocks.append(("h2", "（三）改进措施"))
            blocks.append(("p", f"下一步，{me}将重点做好以下工作：{fix_text}"))

    # --- 六、其他需要报告的事项 ---------------------------------------------------------------------------------
    if "sec.other" not in dropped:
        blocks.append(("h1", "sec.other", heads["sec.other"]))
        fee_cells = rep.t3.get("t3.other.overdue_fee")
        n_fee = num(fee_cells.get(TOTAL_COL)) if fee_cells else 0
        if D("fee_notice_contradiction"):   # fee notices in the table, denied in the text (R-T3-08)
            fee = f"本年度{me}未发出收费通知，未收取信息处理费。"
        elif n_fee > 0:
            notices = n_fee + r.randint(0, 2)
            paid = notices - n_fee
            fee = (f"依据《政府信息公开信息处理费管理办法》，本年度{me}向申请人发出收费通知{notices}件，"
                   f"其中申请人逾期未按收费通知要求缴纳费用、不再处理的{n_fee}件，"
                   + (f"实际收取信息处理费{paid * 100}元。" if paid else "未实际收取信息处理费。"))
        else:
            fee = [f"本年度{me}未发出收费通知，未收取信息处理费。",
                   f"依据《政府信息公开信息处理费管理办法》，{y}年{me}未收取信息处理费。"][var.get("fee", 0)]
            if y < 2021:
                fee = f"本年度{me}未收取政府信息公开信息处理费。"
        a_n, b_n = r.randint(0, 30), r.randint(0, 40)
        other = [
            f"{me}认真落实年度政务公开工作要点，各项任务均按时完成。全年承办人大代表建议{a_n}件、政协提案{b_n}件，"
            f"均已按期办结，办理结果按规定公开。",
            f"{me}按照年度政务公开工作要点要求，逐项细化任务分工，推动各项公开任务落实落地；"
            f"人大代表建议和政协提案办理结果均按规定在门户网站公开。",
            f"本年度{me}无其他需要报告的事项。政务公开工作要点明确的各项任务已全部完成。",
        ][var.get("other", 0)]
        if D("empty_other"):     # just "无" (R-SEC6-02)
            blocks.append(("p", "无。"))
        else:
            if not D("missing_fee_statement"):   # R-SEC6-01
                blocks.append(("p", fee))
            if D("legacy_items"):                # an item of the 2008 format (R-SEC6-03)
                blocks.append(("p", "政府信息公开的收费及减免情况：本年度未收取、减免任何费用。"))
            if not D("no_workplan"):             # R-SEC6-04
                blocks.append(("p", other))

    blocks.append(("sign", [a.name, _cn_date(rep.signed_at or rep.published_at)]))
    return blocks
