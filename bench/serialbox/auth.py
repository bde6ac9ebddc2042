"""Every request as the bench's superuser: no password hashing on the measured path."""

from typing import Any

from rest_framework.authentication import BaseAuthentication


class BenchUser(BaseAuthentication):
    user: Any = None

    def authenticate(self, request: Any) -> tuple[Any, None]:
        if BenchUser.user is None:
            from django.contrib.auth.models import User

            BenchUser.user = User.objects.get(username="bench")
        return (BenchUser.user, None)
