"""The Your sentences page in headless Chromium: a CSV goes through the page's own uploader (``set_input_files``),
Run shows each sentence with its exit layer per checkpoint, and a bad file gets one line, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apptest import write_tiny_checkpoints

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"
TIMEOUT_MS = 60_000
SENTENCES = ["the movie is good", "bad plot and awful acting", "not very funny", "great fun"]
CSV = ("text,label\n" + "".join(f"{s},{'pos' if i % 2 == 0 else 'neg'}\n" for i, s in enumerate(SENTENCES))).encode()


@pytest.fixture(scope="module")
def upload_checkpoints(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("upload_browser_checkpoints")
    return write_tiny_checkpoints(tiny_bert, root, ("deebert", "pabee"))


def upload(page, name: str, data: bytes, mime: str = "text/csv") -> None:
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


def table_rows(page, count: int) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the first data grid, from the accessible table it renders inside its canvas, once it
    shows ``count`` rows (the grid draws after the element arrives)."""
    grid = page.get_by_test_id("stDataFrame").first.locator("table").first
    expect(grid.locator("tbody tr")).to_have_count(count, timeout=TIMEOUT_MS)
    headers = grid.locator("thead th").all_inner_texts()
    rows = [row.locator("td").all_inner_texts() for row in grid.locator("tbody tr").all()]
    return headers, rows


def test_an_uploaded_csv_shows_each_sentence_with_its_exits(streamlit_app, upload_checkpoints, browser_page,
                                                            page_log, wait_for_app):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(upload_checkpoints)})
    page.goto(base_url + "/Your_sentences")
    page.get_by_role("heading", name="Your sentences").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)

    upload(page, "mine.csv", CSV)
    expect(page.get_by_text("4 sentences from mine.csv, labelled")).to_be_visible(timeout=TIMEOUT_MS)
    run = page.locator(".st-key-up_run button")  # by key: a "Rerun" button shows up when files change
    expect(run).to_be_enabled(timeout=TIMEOUT_MS)
    wait_for_app(page)
    run.click()
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)
    expect(page.get_by_test_id("stProgress")).to_have_count(0, timeout=TIMEOUT_MS)  # the progress bar is done
    expect(run).to_be_disabled(timeout=TIMEOUT_MS)  # nothing left to run: results come from the cache

    headers, rows = table_rows(page, len(SENTENCES))
    assert headers[:3] == ["#", "sentence", "label"]
    exit_columns = [i for i, h in enumerate(headers) if h.startswith(("DeeBERT", "PABEE"))]
    assert exit_columns, headers
    assert [r[1] for r in rows] == SENTENCES
    for row in rows:
        for column in exit_columns:
            assert re.fullmatch(r"[123](?: / 3)?", row[column]), (headers[column], row[column])  # raw or formatted
    # labelled data: the Dataset page's views for it
    page.get_by_role("heading", name="Accuracy against speed\u2011up", exact=True)  # non-breaking hyphen.wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == [] and page_log.blocked == []


def test_a_bad_file_gets_one_line_and_no_traceback(streamlit_app, upload_checkpoints, browser_page, page_log,
                                                   wait_for_app):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(upload_checkpoints)})
    page.goto(base_url + "/Your_sentences")
    page.get_by_role("heading", name="Your sentences").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)

    upload(page, "reviews.csv", b"review,stars\ngood film,5\n")
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_have_count(1, timeout=TIMEOUT_MS)
    wait_for_app(page)
    message = error.get_by_test_id("stMarkdownContainer").inner_text().strip()  # the text, not the icon's name
    assert "no 'text' column" in message and "reviews.csv" in message and "\n" not in message
    assert page.get_by_test_id("stException").count() == 0
    assert page.locator(".st-key-up_run").count() == 0

    upload(page, "latin.csv", "text\ncafé crème\n".encode("latin-1"))  # replaces the first file
    expect(error).to_contain_text("not UTF-8", timeout=TIMEOUT_MS)
    assert "\n" not in error.get_by_test_id("stMarkdownContainer").inner_text().strip()
    assert page.get_by_test_id("stException").count() == 0

    upload(page, "labels.csv", b"text,label\ngood,fresh\nbad,rotten\n")  # labels the checkpoints do not have
    expect(page.get_by_test_id("stAlertContentWarning").filter(has_text="but the labels here include")).to_have_count(
        1, timeout=TIMEOUT_MS
    )
    wait_for_app(page)
    # the way out offered is the switch, not another checkpoint
    assert "Run without the labels" in page.get_by_test_id("stAlertContentInfo").first.inner_text()
    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == []


def test_an_uploaded_file_survives_a_visit_to_another_page(streamlit_app, upload_checkpoints, browser_page,
                                                           page_log, wait_for_app):
    """Streamlit's uploader comes back empty after another page; the file read before is kept for the session
    until it is removed with the uploader's ×, replaced, or forgotten."""
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(upload_checkpoints)})
    page.goto(base_url + "/Your_sentences")
    page.get_by_role("heading", name="Your sentences").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)
    read = page.get_by_text("4 sentences from mine.csv, labelled")
    kept = page.get_by_text("uploaded earlier in this session")

    upload(page, "mine.csv", CSV)
    expect(read).to_be_visible(timeout=TIMEOUT_MS)
    expect(kept).to_have_count(0)  # the uploader holds it: nothing to say
    expect(page.get_by_test_id("stFileChip")).to_have_count(1)
    wait_for_app(page)

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("link", name="Explore").click()
    page.get_by_role("heading", name="Explore one sentence").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)
    sidebar.get_by_role("link", name="Your sentences").click()
    page.get_by_role("heading", name="Your sentences").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)
    expect(page.get_by_test_id("stFileChip")).to_have_count(0)  # the uploader is empty again...
    expect(read).to_be_visible(timeout=TIMEOUT_MS)  # ...and the file is still read
    expect(kept).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-up_run button")).to_be_enabled(timeout=TIMEOUT_MS)

    page.locator(".st-key-up_forget button").click()
    expect(read).to_have_count(0, timeout=TIMEOUT_MS)
    expect(kept).to_have_count(0)

    # removed with the uploader's ×: gone, not brought back
    upload(page, "mine.csv", CSV)
    expect(read).to_be_visible(timeout=TIMEOUT_MS)
    wait_for_app(page)
    page.get_by_test_id("stFileChipDeleteBtn").first.click()
    expect(read).to_have_count(0, timeout=TIMEOUT_MS)
    wait_for_app(page)
    expect(kept).to_have_count(0)
    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == []
