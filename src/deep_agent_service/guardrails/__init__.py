"""Guardrails: call limits, model retry and fallback, tool retry, PII filtering and token budgets.

`assembly.guardrail_middleware` builds the ordered middleware list from settings plus the
assistant's overrides; every trip of a guardrail is reported through `events.report_trip`.
"""
