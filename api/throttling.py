from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    """API_RATE_LIMIT requests per token over a sliding window (DRF keeps the request times in
    the cache); over it, 429 with Retry-After. Read per request so the setting can change."""

    scope = "token"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def allow_request(self, request: Request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view) -> str | None:
        token = request.auth
        if token is None:
            return None  # refused with 401 before it costs anything
        return f"api-throttle:{token.pk}"
