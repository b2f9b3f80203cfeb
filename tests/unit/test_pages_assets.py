"""The pages' templates and assets: shipped in the package, nothing from the internet, ready
for a strict Content-Security-Policy, colours with WCAG AA contrast."""

from __future__ import annotations

import re
from pathlib import Path

from api.pages.templating import STATIC_DIR, TEMPLATES_DIR

ASSETS = [*TEMPLATES_DIR.rglob("*.html"), *STATIC_DIR.rglob("*.*")]
HEX = r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b"


def _luminance(colour: str) -> float:
    c = colour.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    channels = []
    for i in (0, 2, 4):
        v = int(c[i : i + 2], 16) / 255
        channels.append(v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _variables(css: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))


def test_pages_load_nothing_from_the_internet() -> None:
    for path in ASSETS:
        text = path.read_text()
        found = re.findall(r"(?:src|href)=\"(https?:)?//", text) + re.findall(
            r"url\(\s*['\"]?https?://", text
        )
        assert not found, f"{path.name} refers to the internet"


def test_templates_have_no_inline_scripts_styles_or_event_handlers() -> None:
    for path in TEMPLATES_DIR.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path.name
        assert "<style" not in text and " style=" not in text, path.name
        assert not re.search(r"\son[a-z]+=", text), path.name


def test_every_text_colour_on_its_background_has_wcag_aa_contrast() -> None:
    css = (STATIC_DIR / "app.css").read_text()
    names = _variables(css)
    checked = 0
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        colours = dict(re.findall(r"(?<![-\w])(color|background):\s*([^;]+);", body))
        if "color" not in colours or "background" not in colours:
            continue
        fg, bg = (
            names.get(v.strip()[4:-1], v.strip()) if v.strip().startswith("var(") else v.strip()
            for v in (colours["color"], colours["background"])
        )
        if not (re.fullmatch(HEX, fg) and re.fullmatch(HEX, bg)):
            continue
        ratio = contrast(fg, bg)
        assert ratio >= 4.5, f"{selector.strip()}: {fg} on {bg} is only {ratio:.2f}:1"
        checked += 1
    assert checked >= 10


def test_the_package_data_ships_the_templates_and_assets() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"templates/*.html", "templates/*/*.html", "static/*"' in pyproject
    assert {p.name for p in STATIC_DIR.iterdir()} >= {"app.css", "terminal.js"}
