"""Turn a monthly report (a PDF, a Word file or its text) into sections and items: `sources`
reads the file's lines, `cleanup` cleans them, `parser` parses them, `reading` ties the three."""
