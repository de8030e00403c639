// eeviz's live chart: a Plotly chart that a rerun updates in place.
//
// Streamlit's own st.plotly_chart reads its figure once per element identity, and a changed figure gets a new
// identity, so every threshold move tore each changed chart down and drew a new one (about 50 ms of a page's
// CPU per chart). Here one chart node lives as long as its element, and a new figure goes through
// Plotly.react, which redraws only what changed.
//
// The look is Streamlit's: figures carry Streamlit's python template, whose colours are placeholders
// (#000001..#000040) that Streamlit's frontend swaps for the theme's, and Streamlit's frontend lays its own
// defaults (fonts, backgrounds, grid and tick colours, a left-aligned bold title) over the template. Both are
// done here the same way (ported from Streamlit 1.67's PlotlyChart), from the theme that Streamlit hands a
// component as CSS variables (--st-background-color, --st-chart-categorical-colors, ...).

const GRAY = { 10: "#fafafa", 30: "#e6eaf1", 70: "#808495", 85: "#31333F", 90: "#262730" };
const REM = 16; // px per rem at Streamlit's root font size

function loadPlotly(src) {
  // one <script> per page, shared by every chart (plotly.min.js defines window.Plotly)
  window.__eevizPlotly = window.__eevizPlotly || {};
  if (!window.__eevizPlotly[src]) {
    window.__eevizPlotly[src] = new Promise((resolve, reject) => {
      if (window.Plotly) return resolve(window.Plotly);
      const script = document.createElement("script");
      script.src = src;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.appendChild(script);
    });
  }
  return window.__eevizPlotly[src];
}

function rgb(color) {
  // "#rgb", "#rrggbb" or "rgb(a)(...)" as [r, g, b]; null when unknown
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
  if (hex) {
    const h = hex[1].length === 3 ? hex[1].replace(/./g, (c) => c + c) : hex[1];
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  }
  const fn = /rgba?\(([^)]*)\)/i.exec(color);
  return fn ? fn[1].split(/[ ,/]+/).slice(0, 3).map(Number) : null;
}

function isLight(color) {
  const c = rgb(color);
  if (!c) return true;
  const [r, g, b] = c.map((v) => v / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5;
}

function themeOf(element) {
  const css = getComputedStyle(element);
  const get = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const list = (name) => get(name, "").split(",").map((c) => c.trim()).filter(Boolean);
  const bg = get("--st-background-color", "#ffffff");
  const light = isLight(bg);
  return {
    bg,
    font: get("--st-font", "sans-serif"),
    headingFont: get("--st-heading-font", get("--st-font", "sans-serif")),
    heading: get("--st-heading-color", light ? "#31333F" : "#fafafa"),
    border: get("--st-border-color", light ? "rgba(49, 51, 63, 0.2)" : "rgba(250, 250, 250, 0.2)"),
    categorical: list("--st-chart-categorical-colors"),
    sequential: list("--st-chart-sequential-colors"),
    diverging: list("--st-chart-diverging-colors"),
    // Streamlit's chart greys: axis text, grid lines, legend text
    text: light ? GRAY[70] : GRAY[30],
    grid: light ? GRAY[30] : GRAY[85],
    legend: light ? GRAY[90] : GRAY[10],
    increasing: light ? "#29b09d" : "#7defa1",
    decreasing: light ? "#ff2b2b" : "#ffabab",
    total: light ? "#0068c9" : "#83c9ff",
    faded: light ? "rgba(49, 51, 63, 0.1)" : "rgba(250, 250, 250, 0.1)",
  };
}

function placeholder(n) {
  return "#" + String(n).padStart(6, "0");
}

function replacePlaceholders(json, t) {
  // the template's placeholder colours, as Streamlit's frontend replaces them
  const swaps = [];
  const series = (first, colors) => colors.slice(0, 10).forEach((c, i) => swaps.push([placeholder(first + i), c]));
  series(1, t.categorical);
  series(11, t.sequential);
  series(21, t.diverging);
  const named = [t.increasing, t.decreasing, t.total, t.grid, t.text, t.legend, t.bg, t.faded, "transparent"];
  named.forEach((c, i) => swaps.push([placeholder(32 + i), c]));
  for (const [from, to] of swaps) json = json.split(from).join(to);
  return json;
}

function streamlitDefaults(t) {
  // Streamlit's layout defaults for its theme, laid over the figure's template (the figure's own layout wins)
  const small = 0.75 * REM, medium = 0.875 * REM;
  const axis = (standoff) => ({
    zerolinecolor: t.grid, gridcolor: t.grid, tickcolor: t.grid, minor: { gridcolor: t.grid }, automargin: true,
    tickfont: { color: t.text, size: small }, title: { font: { color: t.text, size: medium }, standoff },
  });
  return {
    font: { color: t.text, family: t.font, size: small },
    title: { font: { family: t.headingFont, size: REM, color: t.heading }, pad: { l: 0.25 * REM }, xanchor: "left", x: 0 },
    legend: { title: { font: { size: small, color: t.text }, side: "top" }, valign: "top", bordercolor: "transparent",
              borderwidth: 0, font: { size: small, color: t.legend } },
    paper_bgcolor: t.bg,
    plot_bgcolor: t.bg,
    yaxis: { ...axis(1.5 * REM), ticklabelposition: "outside" },
    xaxis: { ...axis(1.25 * REM), showgrid: false, zeroline: false },
    margin: { pad: 0.5 * REM, r: 0, l: 0 },
    hoverlabel: { bgcolor: t.bg, bordercolor: t.border, font: { color: t.text, family: t.font, size: small } },
    coloraxis: { colorbar: { thickness: 16, xpad: 1.5 * REM, ticklabelposition: "outside", outlinecolor: "transparent",
                             outlinewidth: 8, len: 0.75, y: 0.5745, title: { font: { color: t.text, size: medium } },
                             tickfont: { color: t.text, size: small } } },
  };
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function merge(target, source) {
  // source's values into target, deeply (lodash's merge, which Streamlit uses)
  for (const [key, value] of Object.entries(source)) {
    target[key] = isObject(value) && isObject(target[key]) ? merge(target[key], value)
      : isObject(value) ? merge({}, value) : value;
  }
  return target;
}

function themed(figureJson, t) {
  const figure = JSON.parse(replacePlaceholders(figureJson, t));
  const layout = (figure.layout = isObject(figure.layout) ? figure.layout : {});
  const template = (layout.template = isObject(layout.template) ? layout.template : {});
  template.layout = merge(isObject(template.layout) ? template.layout : {}, streamlitDefaults(t));
  if (layout.title !== undefined && layout.title !== null) {
    const title = typeof layout.title === "string" ? { text: layout.title } : layout.title;
    layout.title = { ...title, text: `<b>${typeof title.text === "string" ? title.text : ""}</b>` };
  }
  layout.autosize = true;
  delete layout.width; // the chart takes its column's width, as st.plotly_chart does
  return figure;
}

// Font Awesome's "expand", the icon of Streamlit's own fullscreen button
const EXPAND = { width: 448, height: 512, path: "M32 32C14.3 32 0 46.3 0 64v96c0 17.7 14.3 32 32 32s32-14.3 32-32V96h64c17.7 0 32-14.3 32-32s-14.3-32-32-32H32zM64 352c0-17.7-14.3-32-32-32s-32 14.3-32 32v96c0 17.7 14.3 32 32 32h96c17.7 0 32-14.3 32-32s-14.3-32-32-32H64V352zM320 32c-17.7 0-32 14.3-32 32s14.3 32 32 32h64v64c0 17.7 14.3 32 32 32s32-14.3 32-32V64c0-17.7-14.3-32-32-32H320zM448 352c0-17.7-14.3-32-32-32s-32 14.3-32 32v64H320c-17.7 0-32 14.3-32 32s14.3 32 32 32h96c17.7 0 32-14.3 32-32V352z" };

function isFullscreen(chart) {
  return document.fullscreenElement === chart;
}

function chartConfig(config, chart) {
  // the same config object while the config stays the same: Plotly.react starts a new plot on any change of
  // config, and a new button (its click function) is a change
  const key = JSON.stringify(config);
  if (chart.__eevizConfigKey !== key) {
    chart.__eevizConfigKey = key;
    chart.__eevizConfig = newConfig(config, chart);
  }
  return chart.__eevizConfig;
}

function newConfig(config, chart) {
  const remove = new Set([...(config.modeBarButtonsToRemove || []), "lasso2d", "select2d", "sendChartToCloud"]);
  const fullscreen = {
    name: "Fullscreen", title: "Fullscreen", icon: EXPAND,
    click: () => (document.fullscreenElement ? document.exitFullscreen() : chart.requestFullscreen()),
  };
  return { displaylogo: false, ...config, modeBarButtonsToRemove: [...remove],
           modeBarButtonsToAdd: [fullscreen, ...(config.modeBarButtonsToAdd || [])] };
}

function watchFullscreen(chart, Plotly) {
  if (chart.__eevizFullscreen) return;
  chart.__eevizFullscreen = () => {
    if (!chart._fullLayout) return;
    // the screen's size while fullscreen; then the figure's height again, and its column's width (autosize)
    Plotly.relayout(chart, isFullscreen(chart) ? { height: window.innerHeight, width: window.innerWidth }
                                : { height: chart.__eevizHeight, width: null });
  };
  chart.addEventListener("fullscreenchange", chart.__eevizFullscreen);
}

function watchWidth(chart, Plotly) {
  // a column can change width without a window resize (the sidebar opens, the page narrows): follow it
  if (chart.__eevizResize) return;
  let width = chart.clientWidth, pending = false;
  chart.__eevizResize = new ResizeObserver(() => {
    if (pending || chart.clientWidth === width) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      width = chart.clientWidth;
      if (chart.isConnected && chart._fullLayout) Plotly.Plots.resize(chart);
    });
  });
  chart.__eevizResize.observe(chart);
}

export default function liveChart({ data, parentElement }) {
  let chart = parentElement.querySelector(".eeviz-live-chart");
  if (!chart) {
    chart = document.createElement("div");
    chart.className = "eeviz-live-chart";
    parentElement.appendChild(chart);
  }
  const theme = themeOf(parentElement);
  const figure = themed(data.figure, theme);
  chart.__eevizHeight = figure.layout.height || 450; // Streamlit's default height
  figure.layout.height = isFullscreen(chart) ? window.innerHeight : chart.__eevizHeight;
  chart.style.minHeight = `${chart.__eevizHeight}px`;
  chart.style.background = theme.bg; // behind a fullscreen chart too
  // the newest figure wins: a slow load of plotly.js must not draw an older one over it
  const turn = (chart.__eevizTurn = (chart.__eevizTurn || 0) + 1);
  loadPlotly(data.src)
    .then((Plotly) => {
      if (turn !== chart.__eevizTurn) return;
      const plot = { data: figure.data || [], layout: figure.layout, frames: figure.frames || [],
                     config: chartConfig(data.config || {}, chart) };
      return Plotly.react(chart, plot).then(() => {
        watchWidth(chart, Plotly);
        watchFullscreen(chart, Plotly);
        try {
          describeChart(chart, figure); // live_chart_a11y.js: names, tab stops, playback keys
        } catch (error) {
          console.error("eeviz: the chart's keyboard and screen-reader parts failed", error); // the chart stays
        }
        chart.dataset.drawn = String(turn); // for tests: which figure is on screen
      });
    })
    .catch((error) => {
      chart.textContent = `The chart could not be drawn: ${error.message}`;
    });
  return () => {
    removeKeys(chart);
    chart.__eevizResize?.disconnect();
    chart.removeEventListener("fullscreenchange", chart.__eevizFullscreen);
    chart.__eevizResize = chart.__eevizFullscreen = undefined;
    if (window.Plotly) window.Plotly.purge(chart);
  };
}
