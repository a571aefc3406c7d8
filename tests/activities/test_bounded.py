"""Which templates render in the worker's own process: only those that cannot run away."""

from __future__ import annotations

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from activities.mail.bounded import is_bounded

PARSER = ImmutableSandboxedEnvironment()


@pytest.mark.parametrize(
    "source",
    [
        "<p>Hello {{ relation.first_name }},</p><p>Static text.</p>",
        "{{ relation.city | default('our city') | title }}",
        "{% if relation.vip and relation.city is defined %}VIP{% else %}Hi{% endif %}",
        "{{ relation['plan'] }} {{ relation.first_name }} {{ relation.last_name }}",
        "{{ 'yes' if relation.opt_in_sms else 'no' }}",
    ],
)
def test_everyday_templates_render_in_process(source: str) -> None:
    assert is_bounded(PARSER.parse(source))


@pytest.mark.parametrize(
    "source",
    [
        # The payloads that once froze the worker, each for a different reason.
        "{{ [[0]*1000000]*1000000 }}",  # arithmetic
        "{{ 'a'.ljust(900000000) }}",  # a call
        "{{ 'a'|center(900000000) }}",  # a filter that takes a size
        "{{ '%900000000s' % 'a' }}",  # formatting
        "{{ ((10**1000)**1000)**4 }}",  # powers
        "{% for a in relation.tags %}{% for b in relation.tags %}.{% endfor %}{% endfor %}",
        "{{ relation[relation.key] }}",  # a computed key
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",  # recursion
        "{{ relation.name | replace('a', 'bbbbbbbbbb') }}",  # amplification
        "{{ relation.name | default(relation.x | center(99999999)) }}",  # nested argument
        "{{ 1 | round(999999999, 'floor') }}",  # 10**precision, found in review
        "{{ relation.x ~ relation.x ~ relation.x }}",  # one chunk, past the output cap
    ],
)
def test_anything_that_could_run_away_goes_to_a_render_process(source: str) -> None:
    assert not is_bounded(PARSER.parse(source))
