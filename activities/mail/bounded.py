"""Which templates may render in the worker's own process: those whose cost is provably
linear in the template and the relation's data.

A render process costs a round trip per mail (pickling, pipes, a context switch); on two
cores that is a sixth of the trip rate. Most mail templates are static HTML with a few
`{{ relation.first_name }}`: such a template cannot loop, call, repeat or exponentiate,
so it cannot run away, and rendering it here is as safe as rendering it there. Anything
else (a loop, a call, arithmetic, a filter that takes a size such as `center`, a macro)
goes to the render processes and their time and memory limits.
"""

from __future__ import annotations

from jinja2 import nodes

# Filters whose output is at most a constant factor of their input (escaping may grow a
# string a few times, never by an amount the template chooses). Not `round`: with
# `floor` or `ceil` it computes 10**precision, a constant the template chooses.
# Not `~` either (Concat): one expression is one output chunk, and the output cap is
# checked per chunk, so `{{ a~a~a~... }}` could build gigabytes before it applies.
LINEAR_FILTERS = frozenset(
    {
        "capitalize",
        "default",
        "d",
        "e",
        "escape",
        "first",
        "last",
        "length",
        "count",
        "lower",
        "upper",
        "title",
        "trim",
        "striptags",
        "string",
        "safe",
        "int",
        "float",
        "abs",
        "urlencode",
    }
)
LINEAR_TESTS = frozenset(
    {"defined", "undefined", "none", "number", "string", "true", "false", "boolean"}
)

_ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.If,
    nodes.CondExpr,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Compare,
    nodes.Operand,
    nodes.Keyword,
)


def is_bounded(tree: nodes.Template) -> bool:
    """True when every node of the template is one whose cost is linear (see above)."""
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Filter):
            if node.name not in LINEAR_FILTERS or not _constant_arguments(node):
                return False
        elif isinstance(node, nodes.Test):
            if node.name not in LINEAR_TESTS or not _constant_arguments(node):
                return False
        elif isinstance(node, nodes.Getitem):
            if not isinstance(node.arg, nodes.Const):
                return False  # a computed key could be anything, a slice included
        elif not isinstance(node, _ALLOWED):
            return False
    return True


def _constant_arguments(node: nodes.Filter | nodes.Test) -> bool:
    arguments = [*node.args, *(k.value for k in node.kwargs)]
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return False
    return all(isinstance(a, nodes.Const) for a in arguments)
