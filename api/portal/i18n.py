"""The portal's words in Chinese (zh-CN) and English, and the API's refusals in them.

One table per language (``locales/<language>.json``, the same keys in each: a test checks),
keyed by a short name; a refusal is looked up by the contract's
custom error (``details.error``) first, then by the API's error code, and shown with the
API's own message beneath, so that a refusal never reads as less than the API said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from api.portal.member_api import ApiRefusal

LANGUAGES: Final = ("zh-CN", "en")
DEFAULT_LANGUAGE: Final = "zh-CN"
COOKIE = "scf_portal_lang"
LOCALES: Final = Path(__file__).parent / "locales"


def _load(language: str) -> dict[str, str]:
    catalog: dict[str, str] = json.loads((LOCALES / f"{language}.json").read_text("utf-8"))
    return catalog


_CATALOGS: Final = {language: _load(language) for language in LANGUAGES}


class Words:
    """The words of one language: ``words("key", name=...)``."""

    def __init__(self, language: str) -> None:
        self.language = language if language in _CATALOGS else DEFAULT_LANGUAGE
        self._catalog = _CATALOGS[self.language]

    def __call__(self, key: str, **values: object) -> str:
        text = self._catalog.get(key) or key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._catalog

    def refusal(self, refusal: ApiRefusal) -> str:
        """The refusal in words: the contract's error, else the API's code, else generic."""
        for name in (refusal.revert, refusal.code):
            if name and self.has(f"refusal.{name}"):
                retry = refusal.details.get("retry_after", "")
                return self(f"refusal.{name}", retry_after=retry)
        return self("refusal.other", code=refusal.revert or refusal.code)


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """The switch's choice (a cookie) if any, else the best of ``Accept-Language``."""
    if chosen in LANGUAGES:
        return chosen
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        language = tag.strip().lower()
        match = "zh-CN" if language.startswith("zh") else "en" if language[:2] == "en" else None
        if match and q > best_q:
            best, best_q = match, q
    return best
