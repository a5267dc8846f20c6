"""Self-contained HTML reports: a run with its analyses (:func:`write_report`, what
``landscope report RUN_DIR`` and the end of ``landscope run`` write), and the page parts the
reproduction catalog's summary shares (:func:`page`, :func:`table`, :func:`esc`)."""

from landscope.report._html import esc, fmt_value, href, image_tag, page, table
from landscope.report._run_report import REPORT_FILE, write_report

__all__ = [
    # the run report
    "REPORT_FILE",
    "write_report",
    # page parts
    "esc",
    "fmt_value",
    "href",
    "image_tag",
    "page",
    "table",
]
