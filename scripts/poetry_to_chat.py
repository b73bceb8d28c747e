#!/usr/bin/env python3
"""chinese-poetry (npm package, MIT) -> chat examples for `qiusuo train` / `train-tokenizer`.

Reads the package's dist/ folder: 全唐诗 / 全宋诗 (quantangshi/poet.*.json), 宋词 (songci/ci.song.*.json),
诗经 (shijing/shijing.json) and 楚辞 (chuci/chuci.json). Each poem becomes one chat example: a user
asks for a poem by title, by form (五言/七言 绝句/律诗, detected from the lines), by first line or in
an author's manner, and the assistant answers with the poem, one line per row. The example is
rendered in the DeepSeek chat format the trained tokenizer's chat template produces:

    <｜begin▁of▁sentence｜><｜User｜>{prompt}<｜Assistant｜>{poem}<｜end▁of▁sentence｜>

Held out: a poem goes to the validation file when a hash of its text falls in the lowest
`--val-permille` (default 25, i.e. 2.5% >= the 2% asked for); the split is by poem, so no prompt
variant of a held-out poem is trained on. Deterministic: no randomness beyond that hash.
Writes JSONL lines {"text": ...} and prints the counts.
"""
import argparse
import glob
import hashlib
import json
import os
import re

BOS, EOS, USER, ASSISTANT = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"


def h(s):
    return int.from_bytes(hashlib.sha1(s.encode()).digest()[:8], "little")


def lines_of(paragraphs):
    """Poem rows: the paragraphs split after each full stop / question / exclamation mark."""
    text = "".join(p.strip() for p in paragraphs)
    rows = [r for r in re.split(r"(?<=[。？！；])", text) if r]
    return rows


def form_of(rows):
    """五言/七言 绝句/律诗 when every row is two clauses of 5 or 7 characters."""
    clauses = []
    for r in rows:
        parts = [p for p in re.split(r"[，。？！；]", r) if p]
        if len(parts) != 2:
            return None
        clauses += parts
    n = {len(c) for c in clauses}
    if len(n) != 1 or n.pop() not in (5, 7):
        return None
    size = "五言" if len(clauses[0]) == 5 else "七言"
    if len(rows) == 2:
        return size + "绝句"
    if len(rows) == 4:
        return size + "律诗"
    return None


def shi_prompt(p, rows, k):
    title, author, form = p.get("title", "").strip(), p.get("author", "").strip(), form_of(rows)
    first = re.split(r"[，。？！；]", rows[0])[0]
    kind = form or "诗"
    choices = []
    if title:
        choices.append(f"以《{title}》为题，写一首{kind}。")
    if form:
        choices.append(f"写一首{form}。")
    if first:
        choices.append(f"写一首{kind}，第一句是“{first}”。")
    if author:
        choices.append(f"仿照{author}的风格，写一首{kind}。")
    return choices[k % len(choices)] if choices else "写一首诗。"


def examples(dist):
    for f in sorted(glob.glob(os.path.join(dist, "quantangshi", "poet.*.json"))):
        for p in json.load(open(f, encoding="utf-8")):
            rows = lines_of(p.get("paragraphs", []))
            if rows:
                yield "shi", p, rows
    for f in sorted(glob.glob(os.path.join(dist, "songci", "ci.song.*.json"))):
        for p in json.load(open(f, encoding="utf-8")):
            rows = lines_of(p.get("paragraphs", []))
            if rows:
                yield "ci", p, rows
    sj = os.path.join(dist, "shijing", "shijing.json")
    if os.path.exists(sj):
        for p in json.load(open(sj, encoding="utf-8")):
            rows = lines_of(p.get("content", []))
            if rows:
                yield "shijing", p, rows
    cc = os.path.join(dist, "chuci", "chuci.json")
    if os.path.exists(cc):
        for p in json.load(open(cc, encoding="utf-8")):
            rows = lines_of(p.get("content", []))
            if rows:
                yield "chuci", p, rows


def prompt_of(kind, p, rows, k):
    if kind == "shi":
        return shi_prompt(p, rows, k)
    if kind == "ci":
        tune, author = p.get("rhythmic", "").strip(), p.get("author", "").strip()
        return [f"以《{tune}》为词牌，填一首词。", f"仿照{author}的风格，填一首《{tune}》。"][k % 2]
    if kind == "shijing":
        return f"写一首《诗经》风格的诗，题为《{p.get('title', '').strip()}》。"
    return f"写一篇楚辞，题为《{p.get('title', '').strip()}》。"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dist", required=True, help="the package's dist/ folder")
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--val-permille", type=int, default=25)
    ap.add_argument("--max-poems", type=int, default=0, help="stop after N poems (0: all)")
    a = ap.parse_args()
    n_train = n_val = 0
    forms = {}
    with open(a.train, "w", encoding="utf-8") as tr, open(a.val, "w", encoding="utf-8") as va:
        for i, (kind, p, rows) in enumerate(examples(a.dist)):
            if a.max_poems and i >= a.max_poems:
                break
            poem = "\n".join(rows)
            key = h(poem)
            prompt = prompt_of(kind, p, rows, key >> 20)
            text = f"{BOS}{USER}{prompt}{ASSISTANT}{poem}{EOS}"
            held = key % 1000 < a.val_permille
            (va if held else tr).write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            n_val += held
            n_train += not held
            f = form_of(rows) if kind == "shi" else kind
            forms[f] = forms.get(f, 0) + 1
    print(f"poems: {n_train} train, {n_val} held out ({100.0 * n_val / max(1, n_train + n_val):.2f}%)")
    print("kinds:", ", ".join(f"{k}: {v}" for k, v in sorted(forms.items(), key=lambda x: -x[1])[:8]))


if __name__ == "__main__":
    main()
