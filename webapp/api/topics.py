"""GET /api/v1/topics: the topics readers can choose."""

from __future__ import annotations

from flask import Response, jsonify

from webapp import db
from webapp.api import bp
from webapp.api.schemas import Error, TopicList
from webapp.api.spec import operation
from webapp.readers.topics import active_topics


@bp.get("/topics")
@operation(
    "List the topics readers can choose",
    scope=None,
    responses={200: TopicList, 401: Error},
    description="In display order; retired topics are left out. Any valid key may read them.",
    tags=("topics",),
)
def list_topics() -> Response:
    topics = active_topics(db.session())
    return jsonify(TopicList().dump({"data": topics}))
