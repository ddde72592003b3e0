"""Chinese message building, vectorised: template labels as frames, numbers as text, str.format over columns."""
from __future__ import annotations

import string

import numpy as np
import pandas as pd

from pipeline import templates

from .rulebook import Rulebook

_FMT = string.Formatter()


def vformat(template: str, df: pd.DataFrame) -> pd.Series:
    """`template.format(**row)` for every row of `df`, built by concatenating columns (no per-row Python).

    Only plain fields ({name}) are supported; every field must be a column of `df` (values are used as text).
    """
    out = pd.Series("", index=df.index, dtype=object)
    for literal, fname, spec, conv in _FMT.parse(template):
        if literal:
            out = out + literal
        if fname is not None:
            if spec or conv:
                raise ValueError(f"message template field {{{fname}}}: format specs are not supported")
            if fname not in df.columns:
                raise KeyError(f"message template field {{{fname}}} has no column")
            out = out + df[fname].astype(object).where(df[fname].notna(), "").astype(str)
    return out.astype(str)


def fmt_num(s: pd.Series, signed: bool = False) -> pd.Series:
    """Numbers as text: integers without a decimal point, others with up to 4 decimals; NaN -> ''."""
    s = pd.to_numeric(s, errors="coerce").astype(float)
    isint = s.notna() & (s == s.round())
    out = pd.Series("", index=s.index, dtype=object)
    if isint.any():
        out[isint] = s[isint].round().astype("int64").astype(str)
    frac = s.notna() & ~isint
    if frac.any():
        out[frac] = s[frac].map(lambda v: f"{v:.4f}".rstrip("0").rstrip("."))
    if signed:
        out = out.where(~(s > 0), "+" + out)
    return out.astype(str)


def label_template(template: pd.Series, book: Rulebook) -> pd.Series:
    """The template whose labels a report's messages use (mixed/unknown/legacy2008 fall back to the default)."""
    reg = templates.registry()
    t = template.astype(object).where(template.isin(list(reg)), book.label_template)
    return t.astype(str)


def label_table(book: Rulebook) -> pd.DataFrame:
    """Display labels of every template id: columns lt (template), table, kind, id, label. kind: row (t3 items
    prefixed with their group label), item (t3 rows without the group label), col, block (t2 block caption)."""
    sep = book.raw.get("group_separator", "—")
    overrides = book.raw.get("label_overrides_zh") or {}
    recs = []
    for t in templates.registry().values():
        def add(table, kind, id_, label):
            recs.append((t.id, table, kind, id_, (overrides.get(table) or {}).get(id_, label)))
        for b in t.t2_blocks:
            add("t2", "block", b.id, b.caption)
            for r in b.rows:
                add("t2", "row", r.id, r.label)
            for c in b.cols:
                add("t2", "col", c.id, c.label)
        groups = {g.id: g.label for g in t.t3_groups}
        for r in t.t3_rows:
            add("t3", "row", r.id, f"{groups[r.group]}{sep}{r.label}" if r.group in groups else r.label)
            add("t3", "item", r.id, r.label)  # without the group label
        for g in t.t3_groups:
            add("t3", "row", g.id, g.label)   # e.g. gb2021 t3.other printed as one row
        for c in t.t3_cols:
            add("t3", "col", c.id, c.label)
        for g in t.raw["t4"]["groups"]:
            add("t4", "row", g["id"], f"{g['parent']}{sep}{g['label']}" if g.get("parent") else g["label"])
        for c in t.t4_cols:
            add("t4", "col", c.id, c.label)
    df = pd.DataFrame(recs, columns=["lt", "table", "kind", "id", "label"])
    df = df.drop_duplicates(["lt", "table", "kind", "id"], keep="first")
    # cross-year terms (comparisons.yaml 'prev:<id>'): the same label, marked as last year's
    prev_tpl = (book.raw.get("phrases_zh") or {}).get("prev_label", "{label}（上年报告）")
    prev = df[df["kind"].isin(["row", "col", "item"])].copy()
    prev["id"] = "prev:" + prev["id"]
    prev["label"] = [prev_tpl.format(label=x) for x in prev["label"]]
    return pd.concat([df, prev], ignore_index=True)


def lookup(df: pd.DataFrame, labels: pd.DataFrame, kind: str, id_col: str, out: str,
           table_col: str = "table", lt_col: str = "lt") -> pd.DataFrame:
    """Adds column `out` = display label of df[id_col] (kind row|col|block); unknown ids show the id itself."""
    lab = labels[labels["kind"] == kind][["lt", "table", "id", "label"]].rename(
        columns={"lt": lt_col, "table": table_col, "id": id_col, "label": out})
    res = df.merge(lab, on=[lt_col, table_col, id_col], how="left")
    res.index = df.index
    res[out] = res[out].astype(object).where(res[out].notna(), res[id_col]).astype(str)
    return res


def term_labels(lt: pd.Series, labels: pd.DataFrame, table: str, kind: str, ids) -> dict[str, pd.Series]:
    """{id: label of that id for every row of `lt` (the label template of each row)} for the given ids."""
    sub = labels[(labels["table"] == table) & (labels["kind"] == kind) & labels["id"].isin(list(ids))]
    by_id = {i: dict(zip(g["lt"], g["label"])) for i, g in sub.groupby("id", sort=False)}
    codes, uniq = pd.factorize(lt)
    out = {}
    for i in ids:
        m = by_id.get(i, {})
        per = np.array([m.get(u, i) for u in uniq] + [i], dtype=object)
        out[i] = pd.Series(per[codes], index=lt.index, dtype=object)
    return out


def table_zh(table: pd.Series, book: Rulebook) -> pd.Series:
    m = {t: book.table_zh(t) for t in (book.raw.get("tables") or {})}
    return table.map(m).astype(object).fillna(table).astype(str)


def block_zh(df: pd.DataFrame, labels: pd.DataFrame) -> pd.Series:
    """Caption of the t2 block of each row (e.g. 第二十条第（一）项), '' elsewhere."""
    has = df["block"].astype(str).ne("") & df["table"].eq("t2")
    res = lookup(df.assign(_b=df["block"].astype(str)), labels, "block", "_b", "_bz")
    return res["_bz"].where(has, "").astype(str)


def note_zh(notes: pd.Series, book: Rulebook) -> pd.Series:
    """'split_ambiguous;fullwidth' -> '（数字连写，无法唯一拆分；含全角数字）' (mapped per distinct value)."""
    names = book.raw.get("notes_zh") or {}
    tpl = book.phrase("note")

    def one(v: str) -> str:
        parts = [names[c] for c in str(v).split(";") if c.strip() in names]
        return tpl.format(notes="；".join(parts)) if parts else ""

    uniq = pd.unique(notes.fillna("").astype(str))
    return notes.fillna("").astype(str).map({u: one(u) for u in uniq}).astype(str)


def _join(masks: dict[str, np.ndarray], names: dict[str, pd.Series], index, glue) -> pd.Series:
    """For each row: the names (in the order of `masks`) whose mask is true, joined; glue(key) gives the
    (separator before a name that follows another, prefix of a name that comes first) of that key's names."""
    out = np.full(len(index), "", dtype=object)
    for key, m in masks.items():
        m = np.asarray(m, dtype=bool)
        if not m.any():
            continue
        name = np.asarray(names[key], dtype=object)
        sep, first = glue(key)
        out = np.where(m, np.where(out != "", out + sep + name, (first + name) if first else name), out)
    return pd.Series(out, index=index, dtype=object).astype(str)


def join_names(masks: dict[str, np.ndarray], names: dict[str, pd.Series], sep: str, index) -> pd.Series:
    """For each row: the names (in the order of `masks`) whose mask is true, joined with `sep`."""
    return _join(masks, names, index, lambda key: (sep, ""))


def join_signed(masks: dict[str, np.ndarray], names: dict[str, pd.Series], coef: dict[str, float], index) -> pd.Series:
    """Like join_names with ＋ between the names, but a term with coefficient -1 is joined with －."""
    return _join(masks, names, index, lambda key: ("－", "－") if coef.get(key, 1.0) < 0 else ("＋", ""))
