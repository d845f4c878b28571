from __future__ import annotations

from flask.testing import FlaskClient

from tests.factories import Factories
from webapp.models import EditionStatus, SubscriberStatus


def test_editor_home_lists_editions_with_status_and_items(
    editor_client: FlaskClient, factories: Factories
) -> None:
    factories.edition("2024-06", status=EditionStatus.SENT, items={"policy": [{}, {}]})
    factories.edition("2024-07", items={"deals": [{}]})
    page = editor_client.get("/editor/?lang=en").get_data(as_text=True)
    assert page.index("2024-07") < page.index("2024-06")  # newest first
    assert "Sent" in page and "Draft" in page
    zh = editor_client.get("/editor/?lang=zh_CN").get_data(as_text=True)
    assert "已发送" in zh and "草稿" in zh


def test_editor_home_explains_how_to_start(editor_client: FlaskClient) -> None:
    page = editor_client.get("/editor/?lang=en").get_data(as_text=True)
    assert "No editions yet" in page


def test_admin_home_counts_readers_by_status(
    admin_client: FlaskClient, factories: Factories
) -> None:
    factories.subscriber()
    factories.subscriber()
    factories.subscriber(status=SubscriberStatus.BOUNCED)
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert '<span class="figure">2</span> <span class="status status-active">Active' in page
    assert '<span class="figure">1</span> <span class="status status-bounced">Bounced' in page
