#!/usr/bin/env python3
"""Lists the functions of tasks/ and tools/ (or the given files and folders) longer than a limit.

A function's length is the number of lines from its opening brace to its closing brace, both
included. A function over the limit is allowed when the line just before its signature is a
comment `// long: <reason>`. Prints every function over the limit (allowed ones marked) and exits
with 1 when any of them is not allowed, 0 otherwise.

    python3 tools/long_functions.py                   # tasks/ and tools/, limit 80
    python3 tools/long_functions.py --limit 60 tasks/study.cpp

The scan is a brace matcher over the source with comments, strings and character literals blanked,
not a C++ parser: a block at namespace or class scope whose header ends in a parameter list
(with qualifiers, a trailing return type or a constructor's initializer list) is a function, and
everything inside it (lambdas, local classes) counts as its lines.
"""
import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".cpp", ".h", ".cc", ".hpp", ".cu", ".cuh")
EXEMPTION = re.compile(r"//\s*long:\s*\S")


def blank_non_code(text):
    """Comments, string and character literals replaced by spaces; newlines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^()\\\s]{0,16})\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i + m.end())
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):  # 3'000 is a digit separator
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


FUNCTION_TAIL = re.compile(
    r"\)\s*(?:const\b|volatile\b|noexcept\b(?:\s*\([^()]*\))?|override\b|final\b|mutable\b|&&?|\s)*"
    r"(?:->[^{;]*)?$")
CONSTRUCTOR_INIT = re.compile(r"\)\s*(?:noexcept\b\s*)?:(?!:)\s*[\w:<>]+\s*[({]")
CONTROL = re.compile(r"^\s*(?:if|for|while|switch|catch|do|else)\b")


def classify(header):
    """What a block opened after `header` (code since the last `;` or block at this scope) is."""
    h = " ".join(header.split())
    if re.search(r"\bnamespace\b", h) or re.match(r'^extern\s*"', h) or h.startswith("extern "):
        return "namespace"
    if re.search(r"\b(class|struct|union)\b", h) and "(" not in h:
        return "class"
    if "(" in h and not CONTROL.match(h) and "=" not in h.split("(")[0]:
        if FUNCTION_TAIL.search(h) or CONSTRUCTOR_INIT.search(h):
            return "function"
    if re.search(r"=\s*\[[^\]]*\]\s*\(.*\)\s*(?:mutable\s*)?(?:->[^{]*)?$", h):
        return "function"  # a lambda at namespace scope
    return "other"


def function_name(header):
    h = " ".join(header.split())
    depth, cut = 0, None
    for k, ch in enumerate(h):  # the first '(' at template depth 0 opens the parameter list
        if ch == "<":
            depth += 1
        elif ch == ">" and depth > 0:
            depth -= 1
        elif ch == "(" and depth == 0:
            if h[:k].rstrip().endswith("operator"):
                continue
            cut = k
            break
    before = h[:cut] if cut is not None else h
    m = re.search(r"([~\w:]*operator\s*\S+|[~\w:]+)\s*$", before)
    return m.group(1) if m else before.strip()[-40:]


def functions(path):
    """(name, first line of the signature, lines from '{' to '}') of each function in a file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        raw = f.read()
    code = blank_non_code(raw)
    line_of = [0] * (len(code) + 1)
    line = 1
    for k, ch in enumerate(code):
        line_of[k] = line
        if ch == "\n":
            line += 1
    line_of[len(code)] = line
    found = []
    stack = []  # (kind, index of '{', header start index)
    header_start = 0
    for k, ch in enumerate(code):
        in_function = any(kind == "function" for kind, _, _ in stack)
        if ch == "{":
            kind = "inner" if in_function else classify(code[header_start:k])
            stack.append((kind, k, header_start))
            if kind in ("namespace", "class"):
                header_start = k + 1
        elif ch == "}":
            if not stack:
                continue
            kind, open_at, start = stack.pop()
            if kind == "function":
                header = code[start:open_at]
                first = start + (len(header) - len(header.lstrip()))
                found.append((function_name(header), line_of[first], line_of[k] - line_of[open_at] + 1))
            if kind in ("namespace", "class", "function") and not any(s[0] == "function" for s in stack):
                header_start = k + 1
        elif ch == ";" and not in_function and (not stack or stack[-1][0] in ("namespace", "class")):
            header_start = k + 1
        elif ch == ":" and not in_function and stack and stack[-1][0] == "class":
            # access specifiers (public:) end a header; a '::' or a base list does not
            before = code[header_start:k].strip()
            if before in ("public", "private", "protected") and code[k + 1:k + 2] != ":":
                header_start = k + 1
    return raw.split("\n"), found


def source_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if f.endswith(SOURCE_SUFFIXES):
                        yield os.path.join(root, f)
        else:
            yield p


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=80, help="most lines a function may have (default 80)")
    ap.add_argument("paths", nargs="*", help="files or folders (default: tasks/ and tools/)")
    args = ap.parse_args()
    paths = args.paths or [os.path.join(root, "tasks"), os.path.join(root, "tools")]
    unexplained = 0
    for path in source_files(paths):
        lines, found = functions(path)
        shown = os.path.relpath(path, root) if path.startswith(root) else path
        for name, first, length in found:
            if length <= args.limit:
                continue
            before = lines[first - 2] if first >= 2 else ""
            allowed = EXEMPTION.search(before)
            if not allowed:
                unexplained += 1
            reason = " (" + before.strip() + ")" if allowed else ""
            print(f"{shown}:{first}: {name}: {length} lines{reason}")
    if unexplained:
        print(f"{unexplained} function(s) over {args.limit} lines without a '// long: <reason>' comment before them",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
