"""The items → constructs table: suggestions from column names, and the mapping YAML.

The YAML written here is the data description ``semcluster ... --map FILE`` reads
(:func:`semcluster.data.survey.data_description`): ``columns``, ``reverse``, ``scale``,
``missing_codes``, ``id``.
"""
from __future__ import annotations

import re


def suggest_item(column: str, items) -> str:
    """The model item a file column most likely holds, or ``""``.

    ``ca1``, ``CA1``, ``CA_1``, ``ca-1``, ``Q_CA1`` and ``ca.1`` all suggest ``ca1``: the name
    without punctuation, lower-cased, is an item, or ends with an item's letters followed by
    its number.
    """
    items = list(items)
    norm = re.sub(r"[^0-9a-z]", "", str(column).lower())
    if norm in items:
        return norm
    m = re.fullmatch(r"([a-z]*?)([a-z]+?)0*(\d+)", norm)
    if not m:
        return ""
    best = ""
    for item in items:
        im = re.fullmatch(r"([a-z]+)(\d+)", item)
        if im and im.group(2) == m.group(3) and (m.group(1) + m.group(2)).endswith(im.group(1)):
            if len(im.group(1)) > len(re.sub(r"\d+", "", best)):
                best = item
    return best


def suggest_mapping(columns, items) -> dict:
    """``{file column: suggested item}`` for every column (``""`` when nothing fits); an item
    suggested for two columns is kept for the first only."""
    out, used = {}, set()
    for c in columns:
        s = suggest_item(c, items)
        if s in used:
            s = ""
        used.add(s)
        out[c] = s
    return out


def mapping_document(columns: dict, reverse=(), scale=None, missing_codes=(), id_column=None,
                     ordered=None, sheet=None) -> dict:
    """The data description as a plain dictionary (what the YAML file holds)."""
    doc: dict = {"columns": {str(k): str(v) for k, v in columns.items() if v}}
    if reverse:
        doc["reverse"] = list(reverse)
    if scale:
        doc["scale"] = list(scale)
    if missing_codes:
        doc["missing_codes"] = list(missing_codes)
    if id_column:
        doc["id"] = id_column
    if ordered:
        doc["ordered"] = ordered if ordered == "all" else list(ordered)
    if sheet:
        doc["sheet"] = sheet
    return doc


def to_yaml(doc: dict) -> str:
    import yaml

    return ("# semcluster data description: semcluster fit MODEL --data FILE --map THIS_FILE\n"
            + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def parse_codes(text: str) -> tuple:
    """``"-99, 99 ."`` → ``(-99, 99, ".")``."""
    out = []
    for tok in re.split(r"[,\s;]+", text or ""):
        if not tok:
            continue
        try:
            f = float(tok)
            out.append(int(f) if f.is_integer() and "." not in tok else f)
        except ValueError:
            out.append(tok)
    return tuple(out)


def parse_scale(text: str):
    """``"1 7"`` or ``"1-7"`` → ``(1.0, 7.0)``; empty → None; anything else → ValueError."""
    parts = [p for p in re.split(r"[\s,;]+|(?<=\d)-(?=\d)", (text or "").strip()) if p]
    if not parts:
        return None
    if len(parts) != 2:
        raise ValueError("the answer scale is two numbers, e.g. 1 7")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"the answer scale is two numbers, e.g. 1 7, not '{text.strip()}'") \
            from None
    return (lo, hi)


def parse_long_string(text: str):
    """``"8"`` → 8; empty → None (the data path's default); anything else → ValueError."""
    t = (text or "").strip()
    if not t:
        return None
    try:
        n = int(t)
    except ValueError:
        raise ValueError(f"the long-string threshold is a whole number of items, not '{t}'") \
            from None
    if n < 2:
        raise ValueError(f"the long-string threshold is at least 2 (a run of one identical "
                         f"answer is every answer), not {n}")
    return n


def parse_ordered(text: str):
    """``"all"`` → ``"all"``; ``"q1, q2"`` → ``["q1", "q2"]``; empty → None."""
    t = (text or "").strip()
    if not t:
        return None
    if t.lower() == "all":
        return "all"
    return [n for n in re.split(r"[,\s;]+", t) if n]


def page_options(values: dict, *, columns=None, reverse=(), sheet=None) -> dict:
    """The data options (plain values, what the worker's ``data_options`` reads) from what the
    page's controls hold: ``values`` maps the input ids of step 1 (``missing_codes``,
    ``scale``, ``out_of_scale``, ``id_col``, ``group_col``, ``cluster_col``, ``missing``,
    ``ordered``, ``long_string``, ``drop_careless``) to their text; ``columns`` is the items
    table ({file column: model item}), ``reverse`` its ticked items, ``sheet`` the worksheet
    read.  A malformed entry raises ValueError with a one-line message."""
    def txt(key):
        return str(values.get(key) or "").strip()

    sc = parse_scale(txt("scale"))
    m = {"columns": {c: v for c, v in (columns or {}).items() if v}}
    if reverse:
        m["reverse"] = list(reverse)
    return {"map": m, "missing": txt("missing") or "auto",
            "missing_codes": list(parse_codes(txt("missing_codes"))),
            "scale": list(sc) if sc else None, "id": txt("id_col") or None,
            "out_of_scale": txt("out_of_scale") or "error",
            "ordered": parse_ordered(txt("ordered")),
            "long_string": parse_long_string(txt("long_string")),
            "drop_careless": bool(values.get("drop_careless")),
            "cluster": txt("cluster_col") or None, "group": txt("group_col") or None,
            "sheet": sheet or None}
