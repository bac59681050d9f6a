"""The devices a capture can emulate: ``desktop`` and ``mobile`` (``CaptureRequest.device``).

A device is a fixed, named set of Playwright context options, so two captures of the same
page on the same device are taken under the same conditions and the environment record can
name exactly what the browser pretended to be. The user agent tells the truth about the
engine: it is Chromium's own (its major version, as Chrome's reduced user agent spells it)
on the platform the device stands for; "HeadlessChrome", which many sites refuse, is not
sent. ``request.viewport`` overrides only the size.

Pure data and functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from evidence_api.capture.request import Viewport

DeviceName = Literal["desktop", "mobile"]


@dataclass(frozen=True)
class Device:
    """What the browser context pretends to be."""

    name: DeviceName
    width: int  #: CSS pixels
    height: int
    device_scale_factor: float
    is_mobile: bool
    has_touch: bool
    #: the user agent, with ``{major}`` standing for Chromium's major version
    user_agent_template: str

    def user_agent(self, chromium_version: str) -> str:
        """The user agent for this Chromium (``156.0.8078.114`` -> ``Chrome/156.0.0.0``)."""
        major = chromium_version.split(".", 1)[0]
        if not major.isdigit():
            raise ValueError(f"not a Chromium version: {chromium_version!r}")
        return self.user_agent_template.format(major=major)


DESKTOP = Device(
    name="desktop",
    width=1366,
    height=900,
    device_scale_factor=1.0,
    is_mobile=False,
    has_touch=False,
    user_agent_template=(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{major}.0.0.0 Safari/537.36"
    ),
)

#: An iPhone-sized phone (390 x 844 CSS px at 3x, touch); the engine stays Chromium, so the
#: user agent is Chrome for Android's rather than a Safari one the page could not verify.
MOBILE = Device(
    name="mobile",
    width=390,
    height=844,
    device_scale_factor=3.0,
    is_mobile=True,
    has_touch=True,
    user_agent_template=(
        "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{major}.0.0.0 Mobile Safari/537.36"
    ),
)

DEVICES: dict[str, Device] = {DESKTOP.name: DESKTOP, MOBILE.name: MOBILE}


def device(name: str) -> Device:
    """The device called ``name`` (``KeyError``-free: an unknown name is a ``ValueError``)."""
    try:
        return DEVICES[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; known: {', '.join(DEVICES)}") from None


def context_options(
    name: str, viewport: Viewport | None, *, chromium_version: str
) -> dict[str, Any]:
    """Playwright ``new_context`` keyword arguments for the device (size from ``viewport``
    when given). Only the device's own options: the runner adds proxy, recording, locale."""
    chosen = device(name)
    width, height = (viewport.width, viewport.height) if viewport else (chosen.width, chosen.height)
    return {
        "viewport": {"width": width, "height": height},
        "screen": {"width": width, "height": height},
        "device_scale_factor": chosen.device_scale_factor,
        "is_mobile": chosen.is_mobile,
        "has_touch": chosen.has_touch,
        "user_agent": chosen.user_agent(chromium_version),
    }


def describe(options: dict[str, Any], name: str) -> dict[str, Any]:
    """The device as the environment record states it (name, size, scale, touch, agent)."""
    return {
        "name": name,
        "viewport": f"{options['viewport']['width']}x{options['viewport']['height']}",
        "device_scale_factor": options["device_scale_factor"],
        "is_mobile": options["is_mobile"],
        "has_touch": options["has_touch"],
        "user_agent": options["user_agent"],
    }
