"""gov-disclosure annual report auditor."""
