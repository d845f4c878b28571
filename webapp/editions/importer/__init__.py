"""Turn the text of a monthly report (as extracted from its PDF) into sections and items."""
