"""The office pages are keyboard-operable and meet WCAG AA contrast, at 1280x800, checked in a
real browser (SQLite and PostgreSQL): every visible text against its effective background
(WCAG 2 relative luminance, 4.5:1, 3:1 for large text), every link, button and field
reachable with Tab and showing a focus indicator, and a conflict settled with the keyboard
alone. No axe-core: the checks are computed here, in the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Plant, wait_for
from tests.browser.office_support import (
    floor,
    office_sign_in,
    park,
    plant_extra_config,
    receivers_stop,
)

__all__ = ["plant_extra_config", "receivers_stop"]  # the plant fixture reads the first

# Every visible text (text nodes, form values, placeholders, SVG text) with its colour
# composited over the first opaque background found walking up its ancestors.
CONTRAST_JS = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let bg = [255, 255, 255, 1];  // the canvas
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const lum = (c) => {
    const ch = c.slice(0, 3).map(v => {
      v = v / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      o *= Number(getComputedStyle(e).opacity);
    }
    return o;
  };
  const shown = (el) => {
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && r.right > 0 && r.bottom > 0;
  };
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList.length) s += "." + [...el.classList].join(".");
    const parent = el.parentElement;
    if (parent && !el.id) s = describeShort(parent) + " > " + s;
    return s;
  };
  const describeShort = (el) =>
    el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.classList.length ? "." + [...el.classList].join(".") : "");
  const out = [];
  const check = (el, text, colour, style) => {
    if (!colour) return;
    colour = colour.slice();
    colour[3] *= opacity(el);
    const bg = background(el);
    const fg = over(colour, bg);
    const size = parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const need = large ? 3 : 4.5;
    const r = ratio(fg, bg);
    out.push({ element: describe(el), text: text.trim().slice(0, 60),
               ratio: Math.round(r * 100) / 100, need,
               fg: fg.slice(0, 3).map(Math.round), bg: bg.slice(0, 3).map(Math.round) });
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim() || seen.has(el)) continue;
    if (["SCRIPT", "STYLE", "TITLE", "OPTION", "DESC"].includes(el.tagName)) continue;
    if (el.closest("svg title, svg desc")) continue;
    seen.add(el);
    if (el instanceof SVGElement) {
      const box = el.getBBox ? el.getBBox() : null;
      if (!box || box.width === 0) continue;
      const style = getComputedStyle(el);
      check(el, n.textContent, parse(style.fill), style);
      continue;
    }
    if (!shown(el)) continue;
    if (el.closest(":disabled")) continue;  // inactive controls are exempt
    const style = getComputedStyle(el);
    check(el, n.textContent, parse(style.color), style);
  }
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.disabled || !shown(el)) continue;
    const style = getComputedStyle(el);
    if (el.value && !["checkbox", "radio"].includes(el.type)) {
      check(el, "value " + el.value, parse(style.color), style);
    } else if (el.placeholder) {
      const hint = getComputedStyle(el, "::placeholder").color;
      check(el, "placeholder " + el.placeholder, parse(hint), style);
    }
  }
  return out;
}
"""

# Marks every visible interactive element and returns, for each, what the focus indicator
# properties are while it does not have the focus.
MARK_JS = """
() => {
  const sel = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]";
  const out = [];
  let i = 0;
  for (const el of document.querySelectorAll(sel)) {
    if (el.disabled || el.getAttribute("tabindex") === "-1") continue;
    if (!el.checkVisibility({ checkVisibilityCSS: true })) continue;
    const r = el.getBoundingClientRect();
    const offscreen = r.right <= 0 || r.bottom <= 0;  // a skip link waits off-screen
    if ((r.width < 1 || r.height < 1) && !offscreen) continue;
    el.dataset.a11y = String(i);
    const s = getComputedStyle(el);
    out.push({ idx: i, what: (el.tagName + " " + (el.getAttribute("aria-label") || el.textContent ||
               el.name || el.id || "")).replace(/\\s+/g, " ").trim().slice(0, 70),
               outline: s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor,
               shadow: s.boxShadow });
    i++;
  }
  return out;
}
"""

FOCUSED_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body || !el.dataset.a11y) return null;
  const s = getComputedStyle(el);
  return { idx: Number(el.dataset.a11y), outlineStyle: s.outlineStyle,
           outlineWidth: parseFloat(s.outlineWidth),
           outline: s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor,
           shadow: s.boxShadow };
}
"""


def contrast_failures(page: Page, name: str) -> list[str]:
    found: list[dict[str, Any]] = page.evaluate(CONTRAST_JS)
    assert found, "no text was checked"
    low = min(found, key=lambda f: f["ratio"] / f["need"])
    print(f"{name}: {len(found)} texts checked, lowest {low['ratio']}:1 ({low['element']})")
    return [
        f"{f['element']} {f['text']!r}: {f['ratio']}:1 < {f['need']}:1 "
        f"(text rgb{tuple(f['fg'])} on rgb{tuple(f['bg'])})"
        for f in found
        if f["ratio"] < f["need"]
    ]


def keyboard_failures(page: Page, name: str) -> list[str]:
    """Tab through the page from its start: every interactive element is reached, and shows
    an outline or a box shadow it does not show unfocused. (Date and time fields take one
    Tab per part: the same element focused again is not the walk going round.)"""
    marked: list[dict[str, Any]] = page.evaluate(MARK_JS)
    assert marked, "no interactive element on the page"
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); "
                  "window.scrollTo(0, 0); }")  # fmt: skip
    reached: dict[int, dict[str, Any]] = {}
    last, presses = None, 0
    for presses in range(1, 6 * len(marked) + 10):  # noqa: B007 - printed below
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED_JS)
        if now is None:
            if reached:
                break  # left the page's last element
            continue
        if now["idx"] in reached and now["idx"] != last:
            break  # went round
        reached[now["idx"]] = now
        last = now["idx"]
    print(f"{name}: {len(reached)} of {len(marked)} controls reached in {presses} Tab presses")
    problems = []
    for m in marked:
        got = reached.get(m["idx"])
        if got is None:
            problems.append(f"not reachable with Tab: {m['what']}")
            continue
        outlined = got["outlineStyle"] != "none" and got["outlineWidth"] > 0
        if not ((outlined and got["outline"] != m["outline"]) or got["shadow"] != m["shadow"]):
            problems.append(f"no visible focus indicator: {m['what']}")
    return problems


def test_the_checks_catch_faint_text_and_a_control_without_a_focus_ring(page: Page) -> None:
    """The two checks fail where they should (so a clean office page means something)."""
    page.set_content(
        "<body style='background:#fff'><p id='ok'>Plain ink</p>"
        "<p id='faint' style='color:#999'>Faint grey</p>"
        "<div style='background:#0b4f9c'><span style='color:#1a1a1a'>dark on blue</span></div>"
        "<h1 style='font-size:30px;color:#888'>Large grey</h1>"
        "<a href='#x' style='outline:none'>No ring</a> <button>Ringed</button></body>"
    )
    found = contrast_failures(page, "sample")
    assert len(found) == 2, found
    assert "p#faint 'Faint grey': 2.85:1 < 4.5:1" in found[0]
    assert "'dark on blue'" in found[1]  # the background came from the ancestor
    # the large heading (3.54:1) passes at 3:1
    assert keyboard_failures(page, "sample") == ["no visible focus indicator: A No ring"]


def a_shift_to_look_at(plant: Plant) -> None:
    """Something on every page: a running order with a pause, a result and an open conflict,
    a parked writeback, a settled conflict, a warning."""
    now = datetime.now(UTC).replace(microsecond=0)
    plant.release("WO-X1", work_centre="SAW-1")
    floor(plant, "WO-X1", "start", now - timedelta(minutes=40))
    floor(plant, "WO-X1", "pause", now - timedelta(minutes=30), reason_code="MAT")
    floor(plant, "WO-X1", "resume", now - timedelta(minutes=20))
    floor(plant, "WO-X1", "quantities", now - timedelta(minutes=10), good="4")
    floor(plant, "WO-X1", "results", now - timedelta(minutes=9), serial="SN-1", passed=True)
    plant.release("WO-X1", work_centre="SAW-1", quantity="70")  # a conflict
    plant.release("WO-X2", work_centre="SAW-1")
    park(plant, "WO-X3")  # a parked writeback, and its warning


def test_every_office_page_meets_wcag_aa_contrast_and_is_keyboard_operable(
    page: Page, plant: Plant
) -> None:
    a_shift_to_look_at(plant)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(plant.url + "/office/sign-in")
    failures: dict[str, list[str]] = {}

    def check(name: str) -> None:
        problems = contrast_failures(page, name) + keyboard_failures(page, name)
        if problems:
            failures[name] = problems

    check("sign-in")
    office_sign_in(page, plant, "sven")
    wait_for(
        lambda: plant.call("GET", "/conflicts", "sven", order_no="WO-X1").json(), 15, "conflict"
    )
    local = datetime.now().astimezone()
    since = (local - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    until = (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    pages = {
        "conflicts inbox": "/office/conflicts",
        "warnings": "/office/warnings?state=all",
        "report script": "/office/script",
        "writeback desk": "/office/writeback",
        "order page": "/office/order?no=WO-X1&integration=plant&verify=true",
        "plan board": "/office/plan?work_centre=SAW-1",
        "search": f"/office/search?prefix=WO-X&actor=sven&since={since}&until={until}",
    }
    for name, path in pages.items():
        if name == "search":  # events by actor are for auditors
            page.get_by_role("button", name="Sign out").click()
            office_sign_in(page, plant, "audrey")
        page.goto(plant.url + path)
        expect(page.locator("main h1").first).to_be_visible()
        check(name)
    expect(page.locator("#found-events tbody tr").first).to_be_visible()  # a page with results
    assert not failures, "\n".join(
        f"{name}: {problem}" for name, problems in failures.items() for problem in problems
    )


def tab_to(page: Page, js_test: str, what: str, limit: int = 150) -> None:
    """Press Tab until the focused element passes ``js_test`` (a function of the element)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => ({js_test})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached {what}")


def test_a_supervisor_settles_a_conflict_with_the_keyboard_alone(page: Page, plant: Plant) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    plant.release("WO-X9", work_centre="SAW-1")
    floor(plant, "WO-X9", "start", now - timedelta(minutes=15))
    plant.release("WO-X9", work_centre="SAW-1", quantity="80")
    wait_for(
        lambda: plant.call("GET", "/conflicts", "sven", order_no="WO-X9").json(), 15, "conflict"
    )
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(plant.url + "/office")  # sign in: Tab to the token, type it, Enter
    tab_to(page, "el => el.id === 'token'", "the token field")
    page.keyboard.type(plant.tokens["sven"])
    page.keyboard.press("Enter")
    expect(page.locator(".who")).to_contain_text("sven")
    page.goto(plant.url + "/office/conflicts")  # (the first page after sign-in is the inbox)
    card = "el => el.closest('article.conflict[data-order=\"WO-X9\"]')"
    tab_to(page, f"el => el.tagName === 'TEXTAREA' && ({card})(el)", "WO-X9's note")
    page.keyboard.type("Customer ordered thirty more")
    tab_to(
        page,
        f"el => el.tagName === 'BUTTON' && el.value === 'accept_erp' && ({card})(el)",
        "WO-X9's Accept ERP button",
    )
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("WO-X9")
    settled = page.locator("#settled tr", has_text="WO-X9")
    expect(settled).to_contain_text("Accept ERP")
    expect(settled).to_contain_text("Customer ordered thirty more")
    expect(settled).to_contain_text("sven (supervisor)")
    resolved = [e for e in plant.history("WO-X9") if e["event"] == "ConflictResolved"]
    got = [(e["actor_id"], e["details"]["resolution"], e["details"]["note"]) for e in resolved]
    assert got == [("sven", "accept_erp", "Customer ordered thirty more")]
