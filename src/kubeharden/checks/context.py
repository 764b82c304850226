"""What a check may know besides the object: the site's configuration and the profile."""

from __future__ import annotations

from dataclasses import dataclass

from kubeharden.config import Config


@dataclass(slots=True)
class Context:
    config: Config

    @property
    def profile(self) -> str:
        return self.config.profile
