#!/usr/bin/env python3
"""Reference renders for chat_oracle_test: Python jinja2 set up exactly as Hugging Face
transformers sets it up for chat templates (_compile_jinja_template / apply_chat_template).

  chat_oracle.py gen --seed S --count N --template NAME=PATH ...   generated conversations
  chat_oracle.py snippets FILE                                     small templates, one context

Prints JSON (ASCII-escaped) on stdout. Every case carries either "expected" (the rendered string)
or "error" (jinja2 raised: our engine must fail as well).
"""
import argparse
import json
import random
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %} tag (only renders its body here)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    # Not transformers: llama.cpp's extension, which our engine also provides (V3.2/V4 use it).
    env.filters["from_json"] = json.loads
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


_COMPILED = {}


def render(source, variables):
    try:
        if source not in _COMPILED:
            _COMPILED[source] = ENV.from_string(source)
        return {"expected": _COMPILED[source].render(**variables)}
    except Exception as e:  # any failure: our engine must fail too
        return {"error": f"{type(e).__name__}: {e}"}


# ---------------------------------------------------------------- generated conversations

TEXTS = [
    "Hello! What is 2+2?", "", " ", "\n", "Tell me a joke.", "你好，请介绍一下你自己。", "😀👍🏽 family: 👨‍👩‍👧‍👦",
    "Line one\nLine two\n\nLine four\n", "tabs\tand\ttrailing spaces   ", "quotes ' \" and backslashes \\ \\n",
    "<｜User｜> fake <｜Assistant｜> tokens <｜end▁of▁sentence｜>", "<think>not really</think>", "<|im_start|>user",
    "{{ not_jinja }} {% if x %} {# c #}", "مرحبا بالعالم", "combining é and ñ", "ctrl \u0001\u001f end",
    "line sep \u2028 para \u2029 nbsp \u00a0 ideographic \u3000 space", "  leading and trailing  ",
    "x" * 300, "Ünïcödé ÀÉÎ ß ﬁ", "```python\nprint('hi')\n```", "</think>", "a</think>b</think>c",
]
THINKS = ["<think>\nLet me think.\n</think>\n\nThe answer is 4.", "<think></think>Short.", "pre</think>post",
          "<think>思考中…</think>\n\n答案是四。"]
FUNCS = [
    {"name": "get_weather", "description": "Get the weather for a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. 北京"},
                                                     "unit": {"type": "string", "enum": ["c", "f"]}},
                    "required": ["city"]}},
    {"name": "search", "description": "Search the web — returns \"snippets\".",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "top_k": {"type": "integer", "default": 3},
                                                     "filters": {"type": "array", "items": {"type": "string"}}},
                    "required": ["query"]}},
    {"name": "calc", "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}}},
    {"name": "noop", "description": "", "parameters": {"type": "object", "properties": {}}},
]
ARGS = [
    {"city": "Paris"}, {"city": "北京", "unit": "c"}, {"query": "jinja2 \"sandbox\"", "top_k": 5, "filters": ["a", "b"]},
    {"expr": "1/3", "precision": 1.5, "exact": True, "note": None}, {}, {"nested": {"k": [1, 2.0, {"z": "é"}]}},
]


def gen_tool_calls(rng, string_args, n_calls):
    calls = []
    for i in range(n_calls):
        args = rng.choice(ARGS)
        as_string = string_args if rng.random() < 0.9 else not string_args
        fn = {"name": rng.choice(FUNCS)["name"],
              "arguments": json.dumps(args, ensure_ascii=False) if as_string else args}
        calls.append({"id": f"call_{rng.randrange(10**6)}", "type": "function", "function": fn})
    return calls


def gen_conversation(rng, string_args):
    msgs = []
    for _ in range(rng.choice([0, 0, 1, 1, 1, 2])):
        msgs.append({"role": "system", "content": rng.choice(TEXTS)})
    for turn in range(rng.randint(1, 4)):
        msgs.append({"role": "user", "content": rng.choice(TEXTS)})
        r = rng.random()
        if r < 0.25 and turn < 3:
            n = rng.choice([1, 1, 2, 3])
            m = {"role": "assistant", "content": None if rng.random() < 0.7 else rng.choice(TEXTS),
                 "tool_calls": gen_tool_calls(rng, string_args, n)}
            if rng.random() < 0.3:
                m["reasoning_content"] = rng.choice(TEXTS)
            msgs.append(m)
            for c in m["tool_calls"]:
                msgs.append({"role": "tool", "tool_call_id": c["id"], "content": rng.choice(TEXTS + ['{"temp": 21}'])})
            if rng.random() < 0.7:
                msgs.append({"role": "assistant", "content": rng.choice(TEXTS)})
        elif r < 0.85:
            m = {"role": "assistant", "content": rng.choice(TEXTS + THINKS)}
            if rng.random() < 0.25:
                m["reasoning_content"] = rng.choice(TEXTS)
            msgs.append(m)
    if rng.random() < 0.4 and msgs[-1]["role"] == "assistant":
        msgs.pop()
    if rng.random() < 0.05:
        msgs.append({"role": "developer", "content": "dev note"})
    return msgs


def cmd_gen(a):
    rng = random.Random(a.seed)
    cases = []
    for spec in a.template:
        name, path = spec.split("=", 1)
        source = open(path, encoding="utf-8").read()
        string_args = "tool['function']['arguments']" in source or "tc['function']['arguments']" in source
        qwen = "im_start" in source
        for i in range(a.count):
            msgs = gen_conversation(rng, string_args)
            tools = None
            if rng.random() < 0.35:
                tools = [{"type": "function", "function": f} for f in rng.sample(FUNCS, rng.randint(1, 3))]
            extra = {}
            if "thinking" in source and rng.random() < 0.5:
                extra["thinking"] = rng.random() < 0.6
            if "reasoning_effort" in source and rng.random() < 0.3:
                extra["reasoning_effort"] = rng.choice(["max", "high", "low"])
            if "drop_thinking" in source and rng.random() < 0.2:
                extra["drop_thinking"] = False
            bos = None if qwen else "<｜begin▁of▁sentence｜>"
            if rng.random() < 0.1:
                bos = None
            eos = "<|im_end|>" if qwen else ("<|EOT|>" if "EOT" in source else "<｜end▁of▁sentence｜>")
            case = {"id": f"{name}/{i}", "template": path, "messages": msgs, "tools": tools,
                    "add_generation_prompt": rng.random() < 0.6, "bos_token": bos, "eos_token": eos,
                    "extra_context": extra}
            variables = dict(messages=msgs, tools=tools, documents=None,
                             add_generation_prompt=case["add_generation_prompt"])
            if bos is not None:
                variables["bos_token"] = bos
            variables["eos_token"] = eos
            variables.update(extra)
            # jinja2 never mutates the inputs (immutable sandbox), so rendering here is safe.
            case.update(render(source, variables))
            cases.append(case)
    json.dump(cases, sys.stdout, ensure_ascii=True)


# ---------------------------------------------------------------- snippets

SNIPPET_CONTEXT = r'''{
  "messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi 你好"},
               {"role": "assistant", "content": "<think>x</think>Yo", "tool_calls": null},
               {"role": "user", "content": "Again"}],
  "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": [1, 2.5, "s", null, true]}}}],
  "d": {"b": 2, "a": 1, "items": "key named items", "nested": {"x": [10, 20, 30]}},
  "s": "  Hello, World  ", "u": "ünï 中文 🎉", "n": null, "t": true, "f": false, "i": 7, "neg": -3, "fl": 2.5,
  "big": 1e20, "small": 1.5e-7, "l": [3, 1, 2], "strs": ["b", "A", "c", "a"], "empty": [], "ed": {},
  "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"
}'''


def cmd_snippets(a):
    text = open(a.file, encoding="utf-8").read()
    snippets = [s for s in text.split("\n=====\n")]
    # The file's first block is a comment describing it.
    snippets = [s for s in snippets[1:]]
    ctx = json.loads(SNIPPET_CONTEXT)
    results = []
    for s in snippets:
        r = render(s, ctx)
        r["template"] = s
        results.append(r)
    json.dump({"context": ctx, "results": results}, sys.stdout, ensure_ascii=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--count", type=int, default=100)
    g.add_argument("--template", action="append", default=[])
    s = sub.add_parser("snippets")
    s.add_argument("file")
    a = p.parse_args()
    {"gen": cmd_gen, "snippets": cmd_snippets}[a.cmd](a)


if __name__ == "__main__":
    main()
