"""Views of a `Report`: text for terminals, JSON (schema eifdiff/1), Markdown, HTML."""
