"""Open every page of the built book in Chromium, as a reader would, and measure it.

Each page of the table of contents is opened at 1280x900 (a laptop) and at 390x844
(a phone), after MathJax has typeset it, and the check counts what the reader meets:

- display equations wider than their column (clipped or scrolled without a sign), and
  formulas MathJax did not typeset (the reader would see TeX);
- code cells wider than the column at 1280 px;
- scaffolding the reader sees: visible code lines that are `assert ...` or `glue(...)`,
  and outputs that print how long the build took;
- images whose alt text is missing or only a file name;
- figures whose smallest text is under 9 px on screen (SVG figures are measured
  exactly from their text; a raster figure cannot be, and is reported as such);
- console errors and failed requests, and links to a page or an anchor that does not exist;
- the page's length in screens at 1280x900.

    python tools/check_pages.py                    # the book in _build/html
    python tools/check_pages.py --html DIR --json report.json --screenshots shots/

It exits 1 when any page fails. The browser is Debian's chromium (no download):
Playwright for Python drives it. MathJax is served from a local copy of the npm
package (``--mathjax``), since the check runs without the network; every other
request outside the book is blocked and listed.
"""

import argparse
import functools
import http.server
import json
import re
import struct
import sys
import tempfile
import threading
import zlib
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = {1280: 900, 390: 844}
MIN_TEXT_PX = 9.0
MATHJAX_CDN = re.compile(r"https://cdn\.jsdelivr\.net/npm/mathjax@3/(.*)")
SCAFFOLD_LINE = re.compile(r"^\s*(assert\b|glue\(|from myst_nb import glue\b)")
# An output that reports how long the build ran: "took 86 s", "in 12.3 s on cpu".
BUILD_TIMING = re.compile(r"\b(took|executed in|trained .* in) \d+(\.\d+)? ?(s|min)\b|\b\d+ s on (cpu|cuda|mps)\b")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def toc_pages(toc_path):
    """Every document of a Jupyter Book table of contents, root first, as 'dir/name' without suffix."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    return list(parse_toc_yaml(str(toc_path)))


# --------------------------------------------------------------------------- figures


def svg_smallest_text(svg_text):
    """(smallest font size in the SVG's user units, the viewBox width), or None if it has no text."""
    view_box = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) [\d.]+"', svg_text)
    sizes = [float(s) for s in re.findall(r"font(?:-size)?:\s*(?:[a-z]+ )*([\d.]+)px", svg_text)]
    sizes += [float(s) for s in re.findall(r'font-size="([\d.]+)(?:px)?"', svg_text)]
    if not view_box or not sizes:
        return None
    return min(sizes), float(view_box.group(1))


def png_info(data):
    """(width px, dots per inch or None, tEXt 'Software') of a PNG."""
    width = struct.unpack(">I", data[16:20])[0]
    dpi, software = None, ""
    position = 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"pHYs":
            per_metre, _, unit = struct.unpack(">IIB", body[:9])
            dpi = per_metre * 0.0254 if unit == 1 else None
        elif kind == b"tEXt" and body.startswith(b"Software\0"):
            software = body[9:].decode("latin-1")
        elif kind == b"zTXt" and body.startswith(b"Software\0"):
            software = zlib.decompress(body[10:]).decode("latin-1")
        position += 12 + length
    return width, dpi, software


@functools.lru_cache(maxsize=None)
def image_text_scale(path):
    """How an image file's text size follows from its displayed width.

    Returns ("svg", smallest font in user units, viewBox width), or ("png", dpi, natural
    width, software) for a raster, or None if the file is neither.
    """
    path = Path(path)
    if path.suffix == ".svg":
        found = svg_smallest_text(path.read_text(encoding="utf-8", errors="replace"))
        return ("svg", *found) if found else ("svg-without-text",)
    if path.suffix == ".png":
        width, dpi, software = png_info(path.read_bytes())
        return ("png", dpi, width, software)
    return None


def smallest_text_px(scale, displayed_width):
    """The smallest text of an image on screen, in CSS px; None when it cannot be known.

    An SVG's text is measured: font size times displayed width over viewBox width. A
    matplotlib PNG is estimated for its default 10 pt tick labels, (10 / 72) * dpi *
    displayed / natural: a lower bound it is not, since a figure may use smaller text.
    """
    if scale is None or scale[0] == "svg-without-text":
        return None
    if scale[0] == "svg":
        _, font, view_width = scale
        return font * displayed_width / view_width
    _, dpi, natural, _ = scale
    return None if not dpi else 10 / 72 * dpi * displayed_width / natural


# --------------------------------------------------------------------------- the browser side

MEASURE_JS = r"""
() => {
  const visible = (el) => el.checkVisibility({contentVisibilityAuto: true, opacityProperty: true,
                                              visibilityProperty: true});
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const result = {screens: document.scrollingElement.scrollHeight / window.innerHeight,
                  clipped: [], wideCode: [], scaffolding: [], timings: [], images: [], links: [],
                  untypeset: []};
  // Math MathJax did not typeset (not loaded, or a TeX error shown as its source) would pass
  // every width test while the reader sees TeX.
  for (const el of article.querySelectorAll('div.math, span.math')) {
    const container = el.querySelector('mjx-container');
    if (!container || container.querySelector('mjx-merror') || /\\(begin|end)\{/.test(container.textContent)) {
      result.untypeset.push((el.textContent || '').trim().slice(0, 80));
    }
  }
  for (const el of article.querySelectorAll('mjx-container[display="true"]')) {
    if (!visible(el)) continue;
    const math = el.querySelector('mjx-math') || el;
    const column = (el.closest('div.math, div.MathJax_Display, p, li, dd, div') || el.parentElement);
    const c = column.getBoundingClientRect();
    const m = math.getBoundingClientRect();
    const page = document.documentElement.clientWidth;
    // The container is narrower than the column when an equation number floats beside
    // it, and it scrolls what does not fit: compare the formula with the container too.
    if (el.scrollWidth > el.clientWidth + 1 || m.width > el.clientWidth + 1 ||
        m.width > column.clientWidth + 1 || m.right > c.right + 1 || m.left < c.left - 1 || m.right > page) {
      const label = (el.closest('div.math') || el).querySelector('.eqno');
      result.clipped.push({text: (label ? label.textContent.trim() + ' ' : '') +
                                 (el.getAttribute('aria-label') || el.textContent || '').slice(0, 80),
                           width: Math.round(m.width), room: el.clientWidth, column: Math.round(column.clientWidth)});
    }
  }
  for (const pre of article.querySelectorAll('div.cell_input pre, div.highlight pre')) {
    if (!visible(pre)) continue;
    if (pre.scrollWidth > pre.clientWidth + 1) {
      const longest = pre.textContent.split('\n').reduce((a, b) => (b.length > a.length ? b : a), '');
      result.wideCode.push({line: longest.slice(0, 100), width: pre.scrollWidth, column: pre.clientWidth});
    }
  }
  for (const pre of article.querySelectorAll('div.cell_input pre')) {
    if (!visible(pre)) continue;
    for (const line of pre.textContent.split('\n')) {
      if (/^\s*(assert\b|glue\(|from myst_nb import glue\b)/.test(line)) result.scaffolding.push(line.trim());
    }
  }
  for (const out of article.querySelectorAll('div.cell_output')) {
    if (!visible(out)) continue;
    for (const line of out.innerText.split('\n')) {
      if (TIMING.test(line)) result.timings.push(line.trim().slice(0, 120));
    }
  }
  for (const img of article.querySelectorAll('img')) {
    if (!visible(img)) continue;
    const r = img.getBoundingClientRect();
    result.images.push({src: img.currentSrc || img.src, alt: img.getAttribute('alt'),
                        width: r.width, naturalWidth: img.naturalWidth, loaded: img.complete && img.naturalWidth > 0});
  }
  for (const a of document.querySelectorAll('a[href]')) result.links.push(a.href);
  return result;
}
"""


def alt_is_missing(alt, src):
    """True when an image's alt text says nothing: absent, empty, or only a file name."""
    if not alt or not alt.strip():
        return True
    text = alt.strip()
    name = Path(urlparse(src).path).name
    return text == name or bool(re.fullmatch(r"[\w./-]+\.(png|svg|jpe?g|gif)", text)) or text.startswith("_images/")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder):
    """Serve ``folder`` on a free local port in a background thread; return (server, base URL)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class LinkChecker:
    """Internal links: the file must exist, and so must the anchor it names."""

    def __init__(self, html_dir, base):
        self.html_dir, self.base = Path(html_dir), base
        self._ids = {}

    def ids(self, path):
        if path not in self._ids:
            text = path.read_text(encoding="utf-8", errors="replace")
            self._ids[path] = set(re.findall(r'\sid="([^"]+)"', text)) | set(re.findall(r'\sname="([^"]+)"', text))
        return self._ids[path]

    def broken(self, href):
        """None if ``href`` is fine or outside the book, else why it is broken."""
        if not href.startswith(self.base):
            return None
        url, fragment = urldefrag(href)
        relative = unquote(urlparse(url).path).lstrip("/")
        target = self.html_dir / relative
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return f"no file {relative}"
        if fragment and target.suffix == ".html" and unquote(fragment) not in self.ids(target):
            return f"no anchor #{fragment} in {relative}"
        return None


def mathjax_folder(spec):
    """The folder holding MathJax 3's es5/ files, unpacking an npm tarball when given one."""
    path = Path(spec)
    if path.is_dir():
        return path
    if path.suffix in (".tgz", ".gz"):
        import tarfile
        target = Path(tempfile.mkdtemp(prefix="mathjax-"))
        with tarfile.open(path) as archive:
            archive.extractall(target, filter="data")
        return target / "package"
    raise SystemExit(f"--mathjax: {spec} is neither MathJax's folder nor its npm tarball")


def check_page(context, base, name, width, html_dir, links, blocked, screenshots):
    """Open one page at one width; return its measurements."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    errors = []
    page.on("console", lambda msg: errors.append(f"console: {msg.text}"[:200]) if msg.type == "error"
            and not any(url in msg.text for url in blocked) else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"[:200]))
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url[len(base):]}")
            if r.url.startswith(base) and r.status >= 400 else None)
    page.goto(f"{base}{name}.html", wait_until="load")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.wait_for_timeout(200)
    found = page.evaluate(MEASURE_JS.replace("TIMING", "/" + BUILD_TIMING.pattern.replace("/", r"\/") + "/"))
    if screenshots:
        shot = Path(screenshots) / f"{name.replace('/', '__')}-{width}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
    page.close()
    images = []
    for image in found["images"]:
        local = image["src"].startswith(base)
        path = html_dir / unquote(urlparse(image["src"]).path).lstrip("/") if local else None
        scale = image_text_scale(str(path)) if path and path.is_file() else None
        images.append({"src": image["src"][len(base):] if local else image["src"],
                       "no_alt": alt_is_missing(image["alt"], image["src"]), "loaded": image["loaded"],
                       "text_px": smallest_text_px(scale, image["width"]),
                       "measured": bool(scale and scale[0] == "svg"),
                       "matplotlib": bool(scale and (scale[0].startswith("svg") or "matplotlib" in scale[-1].lower()))})
    broken = sorted({f"{href[len(base):]}: {why}" for href in found["links"] if (why := links.broken(href))})
    return {"screens": found["screens"], "clipped": found["clipped"], "untypeset": found["untypeset"],
            "wide_code": found["wideCode"],
            "scaffolding": found["scaffolding"], "timings": found["timings"], "images": images,
            "errors": errors, "broken_links": broken}


# What fails a page: findings at each width, and findings at 1280 px only.
AT_EACH_WIDTH = {"clipped": "clipped equation(s)", "untypeset": "formula(s) not typeset",
                 "errors": "console error(s)"}
AT_1280 = {"wide_code": "code block(s) wider than the column", "scaffolding": "visible assert/glue line(s)",
           "timings": "printed build timing(s)", "broken_links": "broken link(s)"}


def too_small(image):
    """A figure whose smallest text is under MIN_TEXT_PX, or a matplotlib raster, whose text cannot be measured."""
    if image["measured"]:
        return image["text_px"] < MIN_TEXT_PX
    return image["matplotlib"] and not image["src"].endswith(".svg")


def failures(page_report, max_screens):
    """The reasons a page fails, in words."""
    reasons = []
    for width in WIDTHS:
        at = page_report[width]
        for key, what in AT_EACH_WIDTH.items():
            if at[key]:
                reasons.append(f"{len(at[key])} {what} at {width} px")
        small = [image for image in at["images"] if too_small(image)]
        if small:
            reasons.append(f"{len(small)} figure(s) with text under {MIN_TEXT_PX:.0f} px (or unmeasurable) at {width} px")
    wide = page_report[1280]
    for key, what in AT_1280.items():
        if wide[key]:
            reasons.append(f"{len(wide[key])} {what} at 1280 px")
    for test, what in ((lambda image: image["no_alt"], "image(s) without alt text"),
                       (lambda image: not image["loaded"], "image(s) that did not load")):
        found = [image for image in wide["images"] if test(image)]
        if found:
            reasons.append(f"{len(found)} {what}")
    if wide["screens"] > max_screens:
        reasons.append(f"{wide['screens']:.1f} screens at 1280x900 (more than {max_screens})")
    return reasons


def summarise(report):
    """One row per page, then the totals."""
    header = (f"{'page':<44} {'screens':>7} {'clip1280':>8} {'clip390':>7} {'wide':>4} {'scaff':>5} "
              f"{'timing':>6} {'noalt':>5} {'small':>5} {'errors':>6} {'links':>5}")
    lines = [header]
    totals = dict.fromkeys(("clip1280", "clip390", "wide", "scaff", "timing", "noalt", "small", "errors", "links"), 0)
    for name, page in report["pages"].items():
        wide, phone = page[1280], page[390]
        small = len({i["src"] for at in (wide, phone) for i in at["images"]
                     if i["text_px"] is not None and i["text_px"] < MIN_TEXT_PX})
        row = {"clip1280": len(wide["clipped"]), "clip390": len(phone["clipped"]), "wide": len(wide["wide_code"]),
               "scaff": len(wide["scaffolding"]), "timing": len(wide["timings"]),
               "noalt": sum(i["no_alt"] for i in wide["images"]), "small": small,
               "errors": len(wide["errors"]) + len(phone["errors"]), "links": len(wide["broken_links"])}
        for key, value in row.items():
            totals[key] += value
        lines.append(f"{name:<44} {wide['screens']:>7.1f} " + " ".join(
            f"{row[key]:>{width}}" for key, width in zip(row, (8, 7, 4, 5, 6, 5, 5, 6, 5))))
    lines.append(f"{'total':<44} {'':>7} " + " ".join(
        f"{totals[key]:>{width}}" for key, width in zip(totals, (8, 7, 4, 5, 6, 5, 5, 6, 5))))
    return "\n".join(lines), totals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built book")
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml", help="which pages to open")
    parser.add_argument("--mathjax", default=ROOT / "_build" / "mathjax-3.2.2.tgz",
                        help="MathJax 3: its npm tarball or unpacked folder (default: %(default)s)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--screenshots", type=Path, help="save each page's first screen at each width here")
    parser.add_argument("--pages", nargs="*", help="only these pages (as in the TOC, e.g. chapters/04_bptt)")
    parser.add_argument("--max-screens", type=float, default=16.0,
                        help="longest page allowed, in screens at 1280x900 (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="list every finding, not only the counts")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    html_dir = args.html.resolve()
    pages = args.pages or toc_pages(args.toc)
    missing = [name for name in pages if not (html_dir / f"{name}.html").is_file()]
    if missing:
        raise SystemExit(f"not built: {missing} (run make book first)")
    mathjax = mathjax_folder(args.mathjax)
    server, base = serve(html_dir)
    links = LinkChecker(html_dir, base)
    blocked = set()

    def route(request_route):
        url = request_route.request.url
        if url.startswith(base) or url.startswith("data:"):
            return request_route.continue_()
        local = MATHJAX_CDN.match(url)
        if local and (mathjax / local.group(1)).is_file():
            return request_route.fulfill(path=str(mathjax / local.group(1)))
        blocked.add(url)
        return request_route.abort()

    report = {"pages": {}}
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="check-pages-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        context.route("**/*", route)
        for name in pages:
            report["pages"][name] = {width: check_page(context, base, name, width, html_dir, links, blocked,
                                                       args.screenshots) for width in WIDTHS}
        context.close()
    server.shutdown()

    report["blocked_requests"] = sorted(blocked)
    table, totals = summarise(report)
    report["totals"] = totals
    print(table)
    failed = {}
    for name, page in report["pages"].items():
        reasons = failures(page, args.max_screens)
        page["failures"] = reasons
        if reasons:
            failed[name] = reasons
    if args.verbose:
        for name, page in report["pages"].items():
            for width in WIDTHS:
                at = page[width]
                for key in ("clipped", "untypeset", "wide_code", "scaffolding", "timings", "errors", "broken_links"):
                    for item in at[key] if (width == 1280 or key in ("clipped", "errors")) else []:
                        print(f"  {name} @{width} {key}: {item}")
                for image in at["images"]:
                    if image["no_alt"] and width == 1280:
                        print(f"  {name} no alt: {image['src']}")
                    if image["text_px"] is not None and image["text_px"] < MIN_TEXT_PX:
                        print(f"  {name} @{width} text {image['text_px']:.1f} px: {image['src']}")
    if blocked:
        print(f"requests outside the book, blocked: {len(blocked)} (e.g. {sorted(blocked)[0]})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    for name, reasons in failed.items():
        print(f"FAIL {name}: " + "; ".join(reasons))
    print(f"pages: {len(report['pages']) - len(failed)} pass the check, {len(failed)} do not")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
