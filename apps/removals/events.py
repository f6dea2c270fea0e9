"""What the removals stage records for later stages to react to (payload: the request's id, as `request`)."""
from apps.events.registry import declare

REQUEST_RECEIVED = declare("request.received", "A removal request was logged, from any channel.",
                           producer="removals")
REQUEST_APPROVED = declare("request.approved", "A request was approved for removal (by its last needed "
                           "reviewer, or on receipt by policy).", producer="removals")
REQUEST_REJECTED = declare("request.rejected", "A request was rejected.", producer="removals")
REQUEST_PUBLISHED = declare("request.published", "Every blocklist that must carry an approved request was "
                            "published.", producer="removals")
REQUEST_COMPLETED = declare("request.completed", "Every active mirror applied a version carrying the request.",
                            producer="removals")
REQUEST_REINSTATED = declare("request.reinstated", "A published removal was undone (a counter-notice with no "
                             "lawsuit): its samples are to be un-blocked.", producer="removals")
REQUEST_REMATCH = declare("request.rematch", "Staff asked for a request to be matched again (its matching never "
                          "ran, died, or missed a release).", producer="removals")
