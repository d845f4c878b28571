"""Form fields shared by the public pages and the consoles."""

from __future__ import annotations

from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    """A multiple choice shown as a list of checkboxes (topics, sections)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
