"""Reading the API's lists as a page shows them."""

from __future__ import annotations

from typing import Any

from api.portal.member_api import MemberApi


async def newest(api: MemberApi, path: str, count: int, **params: Any) -> dict[str, Any]:
    """The last ``count`` items of a list the API pages oldest first."""
    total = (await api.get(path, limit=1, **params))["total"]
    page: dict[str, Any] = await api.get(path, limit=count, offset=max(total - count, 0), **params)
    return page
