"""Turn a monthly report (a PDF, a Word file or its text) into sections and items: `sources`
reads the file's lines (through `pdf` or `word`), `cleanup` cleans them, `parser` parses them,
and `reading` ties the three together."""
