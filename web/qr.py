"""QR codes as inline SVG (no Pillow): the public lookup link printed on form 01."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import qrcode
import qrcode.constants
from markupsafe import Markup, escape
from qrcode.image.svg import SvgPathImage

_SIZE_ATTRS = re.compile(r'\swidth="[^"]*"\s+height="[^"]*"')


def lookup_url(public_base_url: str, code: str) -> str:
    """The citizen's lookup link for dossier ``code``."""
    return f"{public_base_url.rstrip('/')}/tra-cuu?{urlencode({'ma': code})}"


def qr_svg(data: str, *, size_mm: int = 26, label: str = "") -> Markup:
    """An ``<svg>`` element encoding ``data``, ``size_mm`` wide, safe to put in a page as is."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=1,
                       image_factory=SvgPathImage)
    qr.add_data(data)
    qr.make(fit=True)
    svg = qr.make_image().to_string(encoding="unicode")
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    attrs = (f' width="{size_mm}mm" height="{size_mm}mm" class="mc-qr" role="img"'
             f' aria-label="{escape(label or data)}"')
    svg = _SIZE_ATTRS.sub(attrs, svg, count=1)
    return Markup(svg)
