// The live chart for keyboards and screen readers (live_chart.py puts this file before live_chart.js).
//
// Plotly draws a chart as SVG: a screen reader read every tick and cell value as one long image name, the
// animation's play/pause buttons and slider cannot take focus, and the toolbar put eight buttons per chart in
// the tab order (80 of the Dataset page's 137 tab stops). So, after each draw:
//   - the chart is a figure named by its title (or by the heading above it), its SVG layers hidden from
//     screen readers (nothing in them can take focus; the toolbar is HTML and stays);
//   - of the toolbar only the download button stays in the tab order (zoom and pan are mouse tools);
//   - a chart with frames gets HTML buttons under it (previous layer, play, pause, next layer) that run the
//     figure's own animation, shown while one of them has focus (mouse users have plotly's), and a hidden
//     live region that reads each new frame's sentence.
// All of it is cheap: attributes set where they differ, the buttons built once per chart node.

const KEYS_STYLE_ID = "eeviz-playback-keys-style";
const KEYS_CSS = `
.eeviz-sr-only, .eeviz-playback-keys:not(:focus-within) {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0; overflow: hidden;
  clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap;
}
.eeviz-playback-keys { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; margin: 0.25rem 0 0.5rem;
  padding: 0.5rem; border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4));
  border-radius: var(--st-base-radius, 0.5rem); background: var(--st-secondary-background-color, transparent);
  color: var(--st-text-color, inherit); font-family: var(--st-font, sans-serif); font-size: 0.875rem; }
.eeviz-playback-keys button { font: inherit; color: inherit; background: var(--st-background-color, transparent);
  border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4)); border-radius: var(--st-button-radius, 0.5rem);
  padding: 0.25rem 0.75rem; cursor: pointer; line-height: 1.5; }
.eeviz-playback-keys button:hover { border-color: var(--st-primary-color, currentColor); }
.eeviz-playback-keys button:focus-visible { outline: 2px solid var(--st-primary-color, currentColor);
  outline-offset: 2px; }
.eeviz-playback-keys button[aria-disabled="true"] { opacity: 0.55; cursor: default; }
`;

// [action, the button's name, its symbol (hidden from screen readers), whether the symbol goes after the name]
const KEYS = [["previous", "previous layer", "◀", false], ["play", "play", "▶", false],
              ["pause", "pause", "❚❚", false], ["next", "next layer", "▶", true]];
const STILL = { mode: "immediate", frame: { duration: 0, redraw: true }, transition: { duration: 0 } };
const TEXT = document.createElement("textarea"); // decodes entities without making elements

function plainText(html) {
  // plotly's title markup as words: tags stripped, <br> as a space, entities decoded
  if (typeof html !== "string") return "";
  TEXT.innerHTML = html.replace(/<br\s*\/?>/gi, " ").replace(/<[^>]*>/g, "");
  return TEXT.value.replace(/\s+/g, " ").trim();
}

function titleText(layout, wrapped = false) {
  // the title's words, with plotly's own subtitle after a dash. A frame's sentence is one sentence ``wrapped``
  // over lines; a chart's title has a line per part ("… examples<br>learning to exit at …"): a comma between
  const title = isObject(layout.title) ? layout.title : { text: layout.title };
  const lines = (typeof title.text === "string" ? title.text : "").split(/<br\s*\/?>/i).map((line) => plainText(line));
  const text = lines.filter(Boolean).reduce((out, line) => (
    !out ? line : wrapped || /[,:;.!?—–]$/.test(out) ? `${out} ${line}` : `${out}, ${line}`), "");
  const sub = isObject(title.subtitle) ? plainText(title.subtitle.text) : "";
  return [text, sub].filter(Boolean).join(" — ");
}

function headingBefore(chart) {
  // an untitled chart is named by the heading just above it (Streamlit puts each element in its own container)
  let item = chart.closest('[data-testid="stElementContainer"]');
  for (let n = 0; item && n < 3; n += 1) {
    item = item.previousElementSibling;
    const heading = item && item.querySelector("h1, h2, h3, h4, h5, h6");
    if (heading) return heading.textContent.trim();
  }
  return "";
}

function setAttr(element, name, value) {
  if (value === null) element.removeAttribute(name);
  else if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}

function hideDrawing(chart) {
  // the SVG layers (data, axes, slider, hover labels) and the toolbar's mouse tools
  chart.querySelectorAll("svg.main-svg").forEach((svg) => setAttr(svg, "aria-hidden", "true"));
  chart.querySelectorAll(".modebar-btn").forEach((button) => {
    const download = /^download plot/i.test(button.getAttribute("data-title") || "");
    setAttr(button, "tabindex", download ? null : "-1");
  });
}

function animationOf(figure) {
  // what the figure's own controls do: play's frames and timing, pause, and a slider step's (still) timing
  const frames = figure.frames || [];
  if (!frames.length) return null;
  const names = frames.map((frame) => String(frame.name));
  const layout = figure.layout;
  const buttons = (layout.updatemenus || []).flatMap((menu) => menu.buttons || [])
    .filter((b) => b.method === "animate" && Array.isArray(b.args) && Array.isArray(b.args[0]));
  const play = buttons.find((b) => b.args[0].some((name) => name !== null));
  const pause = buttons.find((b) => b.args[0].every((name) => name === null));
  const step = ((layout.sliders || [])[0] || {}).steps?.find((s) => s.method === "animate" && s.args);
  const still = (step && step.args[1]) || STILL;
  return {
    names, frames, still,
    play: play ? [play.args[0].map(String), play.args[1] || still]
      : [names, { ...still, frame: { duration: 500, redraw: true } }],
    pause: pause ? [pause.args[0], pause.args[1] || still] : [[null], still],
  };
}

function ensureKeysStyle() {
  if (document.getElementById(KEYS_STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = KEYS_STYLE_ID;
  style.textContent = KEYS_CSS;
  document.head.appendChild(style);
}

function frameIndex(chart, anim) {
  // the frame on screen: the last one animated to since this figure was drawn, else the slider's
  const i = anim.names.indexOf(String(chart.__eevizFrame));
  if (i >= 0) return i;
  const slider = ((chart._fullLayout || {}).sliders || [])[0];
  return slider && Number.isInteger(slider.active) ? slider.active : 0;
}

function showFrame(chart, sentence) {
  // the frame's sentence: the chart's name, and read out by the live region when it changes
  const keys = chart.__eevizKeys;
  setAttr(chart, "aria-label", sentence || "Animated chart");
  if (keys && keys.__live.textContent !== sentence) keys.__live.textContent = sentence;
  const anim = chart.__eevizAnim;
  if (keys && anim) {
    const i = frameIndex(chart, anim);
    setAttr(keys.__buttons.previous, "aria-disabled", String(i <= 0));
    setAttr(keys.__buttons.next, "aria-disabled", String(i >= anim.names.length - 1));
  }
}

function runKey(chart, action) {
  const anim = chart.__eevizAnim, Plotly = window.Plotly;
  if (!anim || !Plotly || !chart._fullLayout) return;
  const i = frameIndex(chart, anim);
  const go = (names, options) => Plotly.animate(chart, names, options).catch(() => {}); // interrupted: fine
  if (action === "play") go(...anim.play);
  else if (action === "pause") go(...anim.pause);
  else if (action === "previous" && i > 0) go([anim.names[i - 1]], anim.still);
  else if (action === "next" && i < anim.names.length - 1) go([anim.names[i + 1]], anim.still);
}

function buildKeys(chart) {
  ensureKeysStyle();
  const keys = document.createElement("div");
  keys.className = "eeviz-playback-keys";
  keys.setAttribute("role", "group");
  keys.setAttribute("aria-label", "Play the chart layer by layer");
  keys.__buttons = {};
  for (const [action, name, symbol, after] of KEYS) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = action;
    const icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = symbol;
    button.append(...(after ? [name + " ", icon] : [icon, " " + name]));
    button.addEventListener("click", () => runKey(chart, action));
    keys.__buttons[action] = button;
    keys.appendChild(button);
  }
  const live = (keys.__live = document.createElement("div"));
  live.className = "eeviz-sr-only eeviz-playback-live";
  live.setAttribute("aria-live", "polite");
  live.setAttribute("aria-atomic", "true");
  chart.after(keys, live);
  return keys;
}

function removeKeys(chart) {
  if (!chart.__eevizKeys) return;
  chart.__eevizKeys.__live.remove();
  chart.__eevizKeys.remove();
  chart.__eevizKeys = chart.__eevizAnim = undefined;
}

function onFrame(chart) {
  // plotly's "plotly_animatingframe": each frame of an animation, from any control (its slider and buttons too)
  if (!chart.__eevizOnFrame) {
    chart.__eevizOnFrame = (event) => {
      if (!chart.__eevizAnim || !event) return;
      chart.__eevizFrame = event.name;
      const layout = (event.frame && event.frame.layout) || {};
      showFrame(chart, titleText(layout.title ? layout : chart.layout || {}, true));
    };
    chart.__eevizAfterPlot = () => hideDrawing(chart);
  }
  // a new plot (Plotly.react after a change of config) drops the chart's listeners: bound again, once each
  for (const [name, listener] of [["plotly_animatingframe", chart.__eevizOnFrame],
                                  ["plotly_afterplot", chart.__eevizAfterPlot]]) {
    chart.removeListener(name, listener);
    chart.on(name, listener);
  }
}

function describeChart(chart, figure) {
  // after each Plotly.react: the chart's role and name, its drawing hidden, its tab stops, its playback keys
  setAttr(chart, "role", "figure");
  hideDrawing(chart);
  onFrame(chart);
  const anim = animationOf(figure);
  chart.__eevizFrame = undefined; // a new figure shows its layout's frame
  if (!anim) {
    removeKeys(chart);
    setAttr(chart, "aria-label", titleText(figure.layout) || headingBefore(chart) || "Chart");
    return;
  }
  chart.__eevizAnim = anim;
  chart.__eevizKeys = chart.__eevizKeys || buildKeys(chart);
  showFrame(chart, titleText(figure.layout, true));
}
