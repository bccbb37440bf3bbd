"""How alike two pieces of code are, whatever their names and formatting.

Code is parsed and walked in source order into a stream of normalised tokens: node types,
operators, attribute names (``.einsum``, ``.gradient`` carry meaning) and the names of modules
and builtins; every other identifier becomes ``N`` and every literal its type, so renaming
variables, reformatting, comments and docstrings change nothing.  A function counts by its body
(the signature is the stub's, the same for every student).  Overlapping k-grams of the
stream are hashed and *winnowed* (the minimum hash of each window of ``window`` k-grams is kept;
Schleimer, Wilkerson & Aiken, "Winnowing: local algorithms for document fingerprinting",
SIGMOD 2003 — the algorithm of MOSS), which keeps a subset of fingerprints that still contains
any shared run of at least ``k + window - 1`` tokens.

- :func:`jaccard` compares two submissions (the class similarity report);
- :func:`containment` is the share of one fingerprint set found in another: how much of a
  reference solution a handed-out file contains (the release's leak check).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
from collections.abc import Iterator

K = 6
"""Tokens per k-gram."""
WINDOW = 4
"""k-grams per winnowing window."""
BUILTIN_NAMES = frozenset(dir(builtins))


def _module_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def tokens(node: ast.AST, keep: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The normalised token stream of an AST (see the module docstring).

    Parameters
    ----------
    node : ast.AST
        A module, function or any node.
    keep : set of str
        Names kept as they are (modules and imported functions); builtins are always kept.
    """
    keep = set(keep) | BUILTIN_NAMES
    return list(_walk(node, keep))


def _walk(node: ast.AST, keep: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
            isinstance(node.value.value, str):
        return  # docstrings and bare strings
    if isinstance(node, ast.Name):
        yield node.id if node.id in keep else "N"
        return
    if isinstance(node, ast.arg):
        yield "arg"
        return
    if isinstance(node, ast.Constant):
        yield f"C:{type(node.value).__name__}"
        return
    if isinstance(node, ast.Attribute):
        yield from _walk(node.value, keep)
        yield "." + node.attr
        return
    if isinstance(node, (ast.expr_context, ast.type_ignore)):
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        # the signature is the stub's, the same for everyone: only the body counts
        for statement in node.body:
            yield from _walk(statement, keep)
        return
    yield type(node).__name__
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, keep)


def fingerprints(stream: list[str], k: int = K, window: int = WINDOW) -> set[int]:
    """Winnowed hashes of the k-grams of ``stream`` (empty when it is shorter than ``k``)."""
    if len(stream) < k:
        return set()
    grams = [int.from_bytes(hashlib.blake2b("\x1f".join(stream[i:i + k]).encode(),
                                            digest_size=8).digest(), "big")
             for i in range(len(stream) - k + 1)]
    if len(grams) <= window:
        return {min(grams)}
    return {min(grams[i:i + window]) for i in range(len(grams) - window + 1)}


def function_fingerprints(source: str | ast.Module, names: set[str] | None = None
                          ) -> dict[str, set[int]]:
    """Fingerprints of each top-level function of ``source`` (or only those in ``names``).

    Unparsable source gives an empty dict.
    """
    try:
        tree = ast.parse(source) if isinstance(source, str) else source
    except (SyntaxError, ValueError, RecursionError):
        return {}
    keep = _module_names(tree)
    result = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                (names is None or node.name in names):
            result[node.name] = fingerprints(tokens(node, keep))
    return result


def jaccard(a: set[int], b: set[int]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def containment(part: set[int], whole: set[int]) -> float:
    """|part ∩ whole| / |part|: how much of ``part`` appears in ``whole`` (0 when empty)."""
    return len(part & whole) / len(part) if part else 0.0


def same_structure(a: ast.AST, b: ast.AST) -> bool:
    """Whether two functions have the same normalised token stream (a renamed verbatim copy)."""
    return tokens(a) == tokens(b)


__all__ = ["K", "WINDOW", "containment", "fingerprints", "function_fingerprints", "jaccard",
           "same_structure", "tokens"]
