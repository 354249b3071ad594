"""Choosing a SendGrid dynamic template for a kind and a customer's locale."""

from __future__ import annotations

from collections.abc import Mapping

#: The locale every kind falls back to.
DEFAULT_LOCALE = "en"


def template_for(templates: Mapping[str, Mapping[str, str]], kind: str, locale: str) -> str | None:
    """The template id for `kind` in the exact locale ("de-AT", "de_AT" alike), else its
    language ("de"), else "en"; None when the kind has none of them."""
    by_locale = {_norm(k): v for k, v in templates.get(kind, {}).items()}
    wanted = _norm(locale)
    for candidate in (wanted, wanted.split("-")[0], DEFAULT_LOCALE):
        if candidate in by_locale:
            return by_locale[candidate]
    return None


def _norm(locale: str) -> str:
    return locale.strip().replace("_", "-").lower()
