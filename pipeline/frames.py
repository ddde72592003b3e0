"""Column layouts of the plain frames passed between stages and written to OUT_DIR.

The first columns of each list are exactly those of ../shared/spec/contract.md (other tools read them by name);
columns after the contract ones are our additions, always appended at the end.
"""

REPORTS_COLUMNS = [
    "report_id", "source_file", "sha256", "format", "agency", "agency_kind", "level", "year", "template",
    "published_at", "status", "error", "n_errors", "n_warnings", "n_infos",
    # additions
    "title", "encoding", "url", "template_markers_2021", "template_markers_2019", "template_expected",
]

CELLS_COLUMNS = [
    "report_id", "table", "row_id", "col_id", "value", "state", "raw", "page", "location",
    # additions: the template block (t2 only), the unit printed in the cell, and parse notes
    # (';'-separated codes such as fullwidth, thousands_sep, unit_yuan, digits_split, split_ambiguous)
    "block", "unit", "note",
]

FINDINGS_COLUMNS = [
    "report_id", "agency", "year", "rule_id", "severity", "status", "table", "row_id", "col_id", "section_id",
    "expected", "actual", "delta", "message", "basis", "location", "source_file",
    # additions
    "title", "assumed_zero",
]

SECTIONS_COLUMNS = ["report_id", "section_id", "order", "heading", "canonical_heading", "text", "char_start"]

INDICATORS_COLUMNS = [
    "report_id", "agency", "year",
    "K-01", "K-02", "K-03", "K-04", "K-05", "K-06", "K-07",
]

CELL_STATES = ("NUMBER", "BLANK", "DASH", "UNPARSABLE", "MISSING")
SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
REPORT_STATUSES = ("ok", "partial", "failed")
FORMATS = ("html", "pdf", "docx", "doc", "txt", "md", "unknown")
TEMPLATES = ("gb2021", "gb2019", "legacy2008", "mixed", "unknown")
