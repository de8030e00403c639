"""Offline rendering of bertviz's head view and model view.

bertviz builds its views with require.js, d3 and jQuery fetched from
cdnjs.cloudflare.com.  This module calls bertviz's own ``head_view`` /
``model_view`` (``html_action="return"``) and rewrites the result so that

* the three libraries load from the app's static folder
  (``static/vendor/``, served by Streamlit at ``/app/static/vendor/`` when
  ``server.enableStaticServing = true``), and
* the parameters JSON that bertviz inlines into a ``<script>`` block is
  re-serialised with ``<``, ``>`` and ``&`` escaped (``\\u003c`` ...), so a
  token such as ``</script><script>alert(1)</script>`` stays a string.

Its colours follow the page around the iframe (``theme="auto"``): Streamlit's light or dark theme, whichever
the user picked, read from the parent page (a ``srcdoc`` iframe is of the page's origin), else the system's
``prefers-color-scheme``; bertviz alone drew a white box with black text on the dark theme.

The returned string is a complete HTML document meant for ``st.iframe(html)``
(a ``srcdoc`` iframe; root-relative URLs such as ``/app/static/vendor/d3.min.js``
resolve against the Streamlit page's origin there).

The vendor files are installed with ``npm install`` at the repository root
(see ``package.json``); without them the functions raise ``ValueError``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "DEFAULT_VENDOR_URL",
    "INSTALL_COMMAND",
    "THEMES",
    "VENDOR_DIR",
    "VENDOR_FILES",
    "head_view_html",
    "missing_vendor_files",
    "model_view_html",
    "safe_json_for_script",
]

REPO_ROOT = Path(__file__).resolve().parents[2]  # eeviz/app/ -> the repository
#: Where ``npm install`` (postinstall step in package.json) puts the libraries.
VENDOR_DIR = REPO_ROOT / "static" / "vendor"
VENDOR_FILES = ("require.js", "d3.min.js", "jquery.min.js")
#: URL under which Streamlit static serving exposes ``static/vendor``.
#: Root-relative on purpose: inside ``st.iframe(html)`` (srcdoc) it resolves
#: against the app's origin.  Prefix it with ``server.baseUrlPath`` if one is set.
DEFAULT_VENDOR_URL = "/app/static/vendor"
INSTALL_COMMAND = "npm install   (run in the repository root; copies the files into static/vendor/)"

_REQUIRE_CDN_TAG = (
    '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"></script>'
)
_SCRIPT_OPEN = '\n<script type="text/javascript">\n'
_SCRIPT_CLOSE = "\n</script>\n"
_MARKER = "PYTHON_PARAMS"
_REQUIRE_CONFIG_RE = re.compile(r"require\.config\(\{.*?\}\);", re.DOTALL)
_ATTN_DECIMALS = 5
# bertviz numbers layers and heads from 0; the rest of the app numbers them from 1. Only the displayed text
# changes (values and indices stay 0-based). Pairs absent from a bertviz version are skipped.
_ONE_BASED = (
    (".text(layer));", ".text(layer + 1));"),  # head view's layer dropdown
    (".text(config.heads[i])", ".text(config.heads[i] + 1)"),  # model view's head axis
    (".text(config.layers[i])", ".text(config.layers[i] + 1)"),  # model view's layer axis
    ("'Layer ' + config.layers[layerIndex] + \", Head \" + config.heads[headIndex]",
     "'Layer ' + (config.layers[layerIndex] + 1) + \", Head \" + (config.heads[headIndex] + 1)"),
)


#: "auto": the page's colours (see the module's docstring); "light"/"dark": Streamlit's colours of that theme.
THEMES = ("auto", "light", "dark")
_THEME_COLOURS = {"light": ("#ffffff", "#31333f"), "dark": ("#0e1117", "#fafafa")}  # Streamlit's (background, text)


def _theme_css(theme: str) -> str:
    """The views' colours as CSS variables (--eeviz-bg, --eeviz-fg, --eeviz-hl) and what bertviz draws with them.

    bertviz hard-codes its colours: token text without a fill (black), axis labels ``fill="black"``, a light-grey
    box behind a hovered token, and in the model view a palette (white or black) for the thumbnails' backgrounds,
    the detail frame (the svg's own fill) and a clicked thumbnail ("#F5F5F5" or "#222"). CSS properties outrank
    SVG presentation attributes, so these rules recolour them, even as bertviz changes the attributes later.
    """
    (light_bg, light_fg), (dark_bg, dark_fg) = _THEME_COLOURS["light"], _THEME_COLOURS["dark"]
    if theme == "auto":  # the system's preference until the page's colours are read (and where they can't be)
        colours = (f":root{{--eeviz-bg:{light_bg};--eeviz-fg:{light_fg};color-scheme:light}}"
                   f"@media (prefers-color-scheme: dark){{:root{{--eeviz-bg:{dark_bg};--eeviz-fg:{dark_fg};"
                   "color-scheme:dark}}")
    else:
        bg, fg = _THEME_COLOURS[theme]
        colours = f":root{{--eeviz-bg:{bg};--eeviz-fg:{fg};color-scheme:{theme}}}"
    return (
        colours
        + ":root{--eeviz-hl:color-mix(in srgb,var(--eeviz-fg) 16%,var(--eeviz-bg))}"
        "body{background:var(--eeviz-bg);color:var(--eeviz-fg)}"
        "select{background:var(--eeviz-bg);color:var(--eeviz-fg)}"
        "svg text{fill:var(--eeviz-fg)}"
        "svg,rect.attn_background,rect.detail{fill:var(--eeviz-bg)}"
        'rect.background,rect.highlight,rect.attn_background[fill="#F5F5F5"],rect.attn_background[fill="#222"]'
        "{fill:var(--eeviz-hl)}"
    )


# Runs first in the view's script (one <script> element: the count the tests pin). Reads the colours of the page
# around the iframe: the nearest opaque background above it and the text colour beside it; checks again every
# second, since a user may switch Streamlit's theme while the page is open (the iframe is not redrawn then).
_FOLLOW_PAGE_JS = r"""(function () {
  function opaque(colour) {
    var m = /^rgba?\(([^)]*)\)/.exec(colour || "");
    var v = m ? m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat) : [];
    return v.length >= 3 && (v.length < 4 || v[3] > 0.5);
  }
  function pageColours() {
    try {
      var el = window.frameElement;
      if (!el || !el.parentElement) return null;
      var style = function (e) { return e.ownerDocument.defaultView.getComputedStyle(e); };
      var fg = style(el.parentElement).color;
      for (; el; el = el.parentElement) {
        var bg = style(el).backgroundColor;
        if (opaque(bg)) return [bg, fg];
      }
    } catch (err) {}  // a page of another origin: the system's preference (the CSS) stays
    return null;
  }
  var root = document.documentElement.style, last = "";
  function follow() {
    var c = pageColours();
    if (!c || c.join() === last) return;
    last = c.join();
    var rgb = c[0].match(/[\d.]+/g).map(parseFloat);
    root.setProperty("--eeviz-bg", c[0]);
    root.setProperty("--eeviz-fg", c[1]);
    root.setProperty("color-scheme", 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 128 ? "dark" : "light");
  }
  follow();
  setInterval(follow, 1000);
})();
"""


def _check_theme(theme: str, name: str = "theme") -> None:
    if theme not in THEMES:
        raise ValueError(f"{name} must be one of {', '.join(THEMES)}, got {theme!r}")


def missing_vendor_files(vendor_dir: Path | str = VENDOR_DIR) -> list[str]:
    """Names of the vendor JS files that are not present in ``vendor_dir``."""
    vendor_dir = Path(vendor_dir)
    return [name for name in VENDOR_FILES if not (vendor_dir / name).is_file()]


def _check_vendor(vendor_dir: Path | str | None) -> None:
    if vendor_dir is None:
        return
    missing = missing_vendor_files(vendor_dir)
    if missing:
        raise ValueError(
            f"bertviz offline assets missing in {vendor_dir}: {', '.join(missing)}. "
            f"Install them with: {INSTALL_COMMAND}"
        )


def safe_json_for_script(obj: Any) -> str:
    """``json.dumps`` that is safe to inline inside ``<script>...</script>``.

    ``<``, ``>`` and ``&`` can only occur inside JSON strings, where the
    ``\\u003c`` style escapes decode to the same characters, so the value is
    unchanged for JavaScript while ``</script>`` / ``<!--`` can't appear.
    ``ensure_ascii`` also escapes U+2028/U+2029.
    """
    text = json.dumps(obj, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _to_torch_layers(attention: Any, tokens: Sequence[str]):
    import torch

    arr = np.asarray(attention, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"attention must have shape (layers, heads, T, T), got {arr.shape}")
    n_layers, n_heads, t1, t2 = arr.shape
    if n_layers == 0 or n_heads == 0:
        raise ValueError(f"attention must have at least one layer and one head, got {arr.shape}")
    if t1 != t2 or t1 != len(tokens):
        raise ValueError(
            f"attention shape {arr.shape} does not match {len(tokens)} tokens "
            "(expected (layers, heads, T, T) with T == len(tokens))"
        )
    return tuple(torch.from_numpy(np.ascontiguousarray(arr[i : i + 1])) for i in range(n_layers))


def _clean_tokens(tokens: Sequence[Any]) -> list[str]:
    return [str(t) for t in tokens]


def _left_padding_px(tokens: Sequence[str]) -> int:
    """bertviz right-aligns the left token column in a ~110 px box; long tokens would be
    clipped at the iframe's left edge, so reserve room for them (15 px font ~ 8.5 px/char)."""
    longest = max((len(t) for t in tokens), default=0)
    return int(min(max(longest * 8.5 - 100, 0), 400)) + 4


def _rewrite(
    bertviz_html: str,
    js_filename: str,
    vendor_url: str,
    title: str,
    tokens: Sequence[str],
    theme: str = "auto",
) -> str:
    """Turn bertviz's CDN-based HTML into a self-contained offline document."""
    import bertviz

    template = (Path(bertviz.__file__).parent / js_filename).read_text()
    parts = template.split(_MARKER)
    if len(parts) < 2 or not _REQUIRE_CONFIG_RE.search(parts[0]):
        raise RuntimeError(f"unexpected bertviz {js_filename} layout; cannot make it offline")

    start = bertviz_html.find(_SCRIPT_OPEN)
    if start < 0 or not bertviz_html.endswith(_SCRIPT_CLOSE) or _REQUIRE_CDN_TAG not in bertviz_html[:start]:
        raise RuntimeError("unexpected bertviz HTML layout; cannot make it offline")
    prefix = bertviz_html[:start]
    body = bertviz_html[start + len(_SCRIPT_OPEN) : -len(_SCRIPT_CLOSE)]

    # body == parts[0] + J + parts[1] + J + ... + parts[-1]; recover J by length.
    n = len(parts) - 1
    json_len, rem = divmod(len(body) - sum(map(len, parts)), n)
    params_json = body[len(parts[0]) : len(parts[0]) + json_len]
    if rem or params_json.join(parts) != body:
        raise RuntimeError("could not locate bertviz parameters in its HTML")
    params = json.loads(params_json)
    for entry in params.get("attention", []):
        entry["attn"] = np.round(np.asarray(entry["attn"], dtype=np.float64), _ATTN_DECIMALS).tolist()

    vendor_url = vendor_url.rstrip("/")
    config = (
        "require.config({\n  paths: {\n"
        f"    d3: {safe_json_for_script(vendor_url + '/d3.min')},\n"
        f"    jquery: {safe_json_for_script(vendor_url + '/jquery.min')}\n"
        "  }\n});"
    )
    head_js = _REQUIRE_CONFIG_RE.sub(lambda _m: config, parts[0], count=1)
    # Only the first marker is code; later ones are in a comment, don't repeat the data there.
    code_after = "params".join(parts[1:])
    for old, new in _ONE_BASED:  # on bertviz's code only, never on the data (tokens may hold any text)
        head_js, code_after = head_js.replace(old, new), code_after.replace(old, new)
    js = (_FOLLOW_PAGE_JS if theme == "auto" else "") + head_js + safe_json_for_script(params) + code_after

    require_tag = f'<script src="{html.escape(vendor_url)}/require.js"></script>'
    html_prefix = prefix.replace(_REQUIRE_CDN_TAG, require_tag)
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n"
        f"<style>body{{margin:0;padding:4px 4px 4px {_left_padding_px(tokens)}px}}"
        f"svg{{overflow:visible}}{_theme_css(theme)}</style>\n"
        "</head>\n<body>\n"
        f"{html_prefix}\n<script type=\"text/javascript\">\n{js}\n</script>\n"
        "</body>\n</html>\n"
    )


def _prepare(attention: Any, tokens: Sequence[str], sentence_b_start: int | None, vendor_dir):
    """Checked inputs shared by both views: (clean tokens, per-layer torch tensors, sentence_b_start)."""
    _check_vendor(vendor_dir)
    tokens = _clean_tokens(tokens)
    layers = _to_torch_layers(attention, tokens)
    if sentence_b_start is not None:
        sentence_b_start = int(sentence_b_start)
        if not 0 < sentence_b_start < len(tokens):
            raise ValueError(f"sentence_b_start must be in 1..{len(tokens) - 1}, got {sentence_b_start}")
    return tokens, layers, sentence_b_start


def head_view_html(
    attention: Any,
    tokens: Sequence[str],
    sentence_b_start: int | None = None,
    layer: int | None = None,
    heads: Sequence[int] | None = None,
    *,
    theme: str = "auto",
    vendor_url: str = DEFAULT_VENDOR_URL,
    vendor_dir: Path | str | None = VENDOR_DIR,
) -> str:
    """bertviz head view as a standalone offline HTML document.

    ``attention``: array-like (layers, heads, T, T); ``tokens``: T strings.
    ``layer``/``heads``: initially selected layer / heads (default 0 / all).
    ``theme``: "auto" (the page's colours), "light" or "dark" (see :data:`THEMES`).
    ``vendor_url``: URL prefix of require.js, d3.min.js, jquery.min.js.
    ``vendor_dir``: checked for those files (``None`` skips the check).
    Embed with ``st.iframe(html, height=...)``.
    """
    from bertviz import head_view

    _check_theme(theme)
    tokens, layers, sentence_b_start = _prepare(attention, tokens, sentence_b_start, vendor_dir)
    if layer is not None:
        layer = int(layer)
        if not 0 <= layer < len(layers):
            raise ValueError(f"layer must be in 0..{len(layers) - 1}, got {layer}")
    if heads is not None:
        heads = [int(h) for h in heads]
    result = head_view(
        layers,
        tokens,
        sentence_b_start=sentence_b_start,
        layer=layer,
        heads=heads,
        html_action="return",
    )
    return _rewrite(result.data, "head_view.js", vendor_url, "bertviz head view", tokens, theme)


def model_view_html(
    attention: Any,
    tokens: Sequence[str],
    sentence_b_start: int | None = None,
    display_mode: str = "auto",
    *,
    vendor_url: str = DEFAULT_VENDOR_URL,
    vendor_dir: Path | str | None = VENDOR_DIR,
) -> str:
    """bertviz model view (grid of all layers x heads) as offline HTML.

    Same conventions as :func:`head_view_html`; ``display_mode`` is its ``theme``: ``"auto"`` (the page's
    colours), ``"light"`` or ``"dark"``.
    """
    from bertviz import model_view

    _check_theme(display_mode, "display_mode")
    tokens, layers, sentence_b_start = _prepare(attention, tokens, sentence_b_start, vendor_dir)
    result = model_view(
        layers,
        tokens,
        sentence_b_start=sentence_b_start,
        # bertviz's palette only picks the attribute values the theme's CSS recolours (see _theme_css)
        display_mode="dark" if display_mode == "dark" else "light",
        html_action="return",
    )
    return _rewrite(result.data, "model_view.js", vendor_url, "bertviz model view", tokens, display_mode)
