"""The Streamlit app's helpers: the only part of eeviz that imports Streamlit.

- ``page``: page config, the sidebar's links, markdown escaping;
- ``loading``: the checkpoint picker, models and traces cached across reruns, eval.json;
- ``inputs``: sentence boxes and the example picker, synced with the URL;
- ``rules``: the exit-rule and threshold widgets, and what a method's figures need (``method_extras``);
- ``output``: the decision banner and the cut-input notices;
- ``downloads``: the download buttons, their file names and CSVs;
- ``live_chart``: Plotly charts that a rerun redraws in place (a small ``st.components.v2`` component with
  Streamlit's chart theme); every chart of the app goes through it;
- ``learn``: the Learn page's toy trace and per-method tabs;
- ``bertviz_offline``: bertviz's views without network access;
- ``wire``: sessions that speak Streamlit's websocket protocol without a browser (the load test of
  ``eeviz bench --app --browsers K``);
- ``ui``: all of the above that the pages use, under one name.

Pages read widgets, call these and ``eeviz.plots``, and draw; no model logic lives in ``pages/``.
User text reaches the page only through widgets, dataframes, ``st.code`` and ``md_escape``d markdown
(never ``unsafe_allow_html``).
"""
