"""The authorisation matrix's expectations: for every URL route of the URLconf, each request
made (method, object in zone A or zone B, body) and the status each caller must get.

Callers: `anonymous`; `resident` (anonymous with the public chat's `qa_client` cookie, the
owner of the fixtures' hand-off conversation); `device` (camera A's `Api-Key`); `zone_operator`
(operator limited to zone A); `operator` (every zone); `admin` (admin role, staff status).

An expectation is an exact status, or LOGIN (302 to the sign-in page) / ADMIN_LOGIN (302 to
the admin's). Objects in zone B answer 404 to the zone-limited operator wherever the same
request on zone A passes the permission check (apps.core.roles.viewer_zones: unseen is
unknown), unless a check says otherwise.

A new route makes test_authorisation_matrix fail until it is added here with a decision.
"""

from dataclasses import dataclass, field

ROLES = ("anonymous", "resident", "device", "zone_operator", "operator", "admin")
LOGIN = "302 to /accounts/login/"
ADMIN_LOGIN = "302 to /admin/login/"
Expect = int | str


def row(anonymous, resident, device, zone_operator, operator, admin) -> dict[str, Expect]:
    return dict(
        zip(ROLES, (anonymous, resident, device, zone_operator, operator, admin), strict=True)
    )


def like(base: dict[str, Expect], **changes: Expect) -> dict[str, Expect]:
    return {**base, **changes}


# Profiles. Pages: signed-out callers go to sign-in, signed-in callers without the role get 403.
PUBLIC = row(200, 200, 200, 200, 200, 200)
PAGE_SIGNED_IN = row(LOGIN, LOGIN, LOGIN, 200, 200, 200)
PAGE_OPERATOR = row(LOGIN, LOGIN, LOGIN, 200, 200, 200)
PAGE_ADMIN = row(LOGIN, LOGIN, LOGIN, 403, 403, 200)
# API: no credential DRF knows is a 401 (a device key counts only on the frame upload).
API_SIGNED_IN = row(401, 401, 401, 200, 200, 200)
API_OPERATOR = row(401, 401, 401, 200, 200, 200)
API_ADMIN = row(401, 401, 401, 403, 403, 200)


@dataclass(frozen=True)
class Check:
    """One request: `zone` is "A" or "B" for a zoned object's kwargs ("" for none or for
    objects without a zone); `body` is sent as JSON to the API, as a form to pages."""

    method: str
    expect: dict[str, Expect]
    zone: str = ""
    body: dict | None = None
    query: str = ""
    xfail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """`kwargs` names, for each URL keyword, the fixture object whose pk fills it (a value
    starting with "=" is used as written)."""

    checks: tuple[Check, ...]
    kwargs: dict[str, str] = field(default_factory=dict)


def get(expect, **kw) -> Check:
    return Check("GET", expect, **kw)


def post(expect, **kw) -> Check:
    return Check("POST", expect, **kw)


def zoned(method: str, expect: dict[str, Expect], *, zone_b: dict | None = None, **kw) -> tuple:
    """The same request on the zone-A and the zone-B object. On B the zone-limited operator
    gets 404 where A let them through (else the same refusal), unless `zone_b` says otherwise."""
    passed = expect["zone_operator"] not in (401, 403, 405, LOGIN)
    on_b = like(expect, zone_operator=404 if passed else expect["zone_operator"])
    return (
        Check(method, expect, zone="A", **kw),
        Check(method, {**on_b, **(zone_b or {})}, zone="B", **kw),
    )


# Views that look the object up in the caller's zones before checking the admin role: a
# zone-B object is unknown (404) to the zone-limited operator, not forbidden.
SEEN_FIRST = {"zone_operator": 404}

API = "api/v1/"
INC = API + "^incidents/(?P<pk>[^/.]+)/"
DS = API + "^ml/datasets/(?P<pk>[^/.]+)/"
TR = API + "^ml/training-runs/(?P<pk>[^/.]+)/"
MV = API + "^ml/model-versions/(?P<pk>[^/.]+)/"
SCH = API + "scheduling/"

# A POST body that is refused for being empty: 400 proves the permission check passed.
OP_POST_EMPTY_400 = like(API_OPERATOR, zone_operator=400, operator=400, admin=400)
ADMIN_POST_EMPTY_400 = like(API_ADMIN, admin=400)
# Page forms after the permission check: a redirect back (message shown), or the form again.
PAGE_OP_POST_REDIRECT = row(LOGIN, LOGIN, LOGIN, 302, 302, 302)
PAGE_ADMIN_POST_REDIRECT = like(PAGE_ADMIN, admin=302)

ROUTES: dict[str, Route] = {
    # --- incidents: pages ------------------------------------------------------------------
    "": Route((get(PAGE_OPERATOR),)),
    "queue/": Route((get(PAGE_OPERATOR),)),
    "incidents/<int:pk>/": Route(zoned("GET", PAGE_OPERATOR), {"pk": "incident"}),
    "incidents/<int:pk>/<str:verb>": Route(
        (*zoned("POST", PAGE_OP_POST_REDIRECT), get(row(405, 405, 405, 405, 405, 405), zone="A")),
        {"pk": "incident", "verb": "=acknowledge"},
    ),
    "checklists/": Route((get(PAGE_OPERATOR),)),
    "checklists/new/": Route((get(PAGE_ADMIN), post(like(PAGE_ADMIN, admin=200)))),
    "checklists/<int:pk>/": Route(
        (get(PAGE_OPERATOR), post(like(PAGE_ADMIN, admin=200))), {"pk": "checklist"}
    ),
    # --- cameras: pages --------------------------------------------------------------------
    "frames/<int:frame_id>/image": Route(
        zoned("GET", like(PAGE_OPERATOR), query="size=thumb"), {"frame_id": "frame"}
    ),
    "cameras/": Route((get(PAGE_OPERATOR),)),
    "cameras/new/": Route((get(PAGE_ADMIN), post(PAGE_ADMIN))),
    "cameras/<int:pk>/": Route(zoned("GET", PAGE_OPERATOR), {"pk": "camera"}),
    "cameras/<int:pk>/edit/": Route(
        (
            *zoned("GET", PAGE_OPERATOR),
            *zoned("POST", like(PAGE_ADMIN, admin=200), zone_b=SEEN_FIRST),
        ),
        {"pk": "camera"},
    ),
    "cameras/<int:pk>/key": Route(zoned("POST", like(PAGE_ADMIN, admin=302)), {"pk": "camera"}),
    "cameras/<int:pk>/rules/new/": Route(
        (
            *zoned("GET", PAGE_ADMIN, zone_b=SEEN_FIRST),
            *zoned("POST", PAGE_ADMIN, zone_b=SEEN_FIRST),
        ),
        {"pk": "camera"},
    ),
    "cameras/<int:pk>/rules/<int:rule_pk>/": Route(
        (
            *zoned("GET", PAGE_OPERATOR),
            *zoned("POST", like(PAGE_ADMIN, admin=200), zone_b=SEEN_FIRST),
        ),
        {"pk": "camera", "rule_pk": "rule"},
    ),
    "cameras/<int:pk>/rules/<int:rule_pk>/enabled": Route(
        zoned("POST", PAGE_ADMIN_POST_REDIRECT), {"pk": "camera", "rule_pk": "rule"}
    ),
    # --- ML pages (admins; no zones: datasets hold every zone's evidence) ------------------
    "ml/datasets/": Route((get(PAGE_ADMIN),)),
    "ml/datasets/<int:pk>/": Route((get(PAGE_ADMIN),), {"pk": "dataset"}),
    "ml/datasets/<int:pk>/upload": Route(
        (post(like(PAGE_ADMIN, anonymous=LOGIN, admin=302)),), {"pk": "dataset"}
    ),
    "ml/datasets/<int:pk>/schedule": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "dataset"}),
    # An image not an admin's is "no such sample" (404), as for one that does not exist.
    "ml/samples/<int:pk>/image": Route(
        (get(row(LOGIN, LOGIN, LOGIN, 404, 404, 200)),), {"pk": "sample"}
    ),
    "ml/models/": Route((get(PAGE_ADMIN),)),
    "ml/models/compare/": Route((get(PAGE_ADMIN),)),
    "ml/models/<int:pk>/": Route((get(PAGE_ADMIN),), {"pk": "model_version"}),
    "ml/models/<int:pk>/promote": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "model_version"}),
    "ml/models/<int:pk>/rollback": Route(
        (post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "model_version"}
    ),
    "ml/runs/": Route((get(PAGE_ADMIN),)),
    "ml/runs/start": Route((post(like(PAGE_ADMIN, admin=400)),)),
    "ml/runs/<int:pk>/": Route((get(PAGE_ADMIN),), {"pk": "training_run"}),
    "ml/runs/<int:pk>/cancel": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "training_run"}),
    "ml/labelling/": Route((get(PAGE_ADMIN),)),
    "ml/labelling/<int:pk>/": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "labelling_item"}),
    "ml/loop/": Route((get(PAGE_ADMIN),)),
    "ml/loop/<slug:task>/": Route((get(PAGE_ADMIN),), {"task": "=image_classification"}),
    # --- notifications (admins) ------------------------------------------------------------
    "notifications/": Route((get(PAGE_ADMIN),)),
    "notifications/rules/new/": Route((get(PAGE_ADMIN), post(like(PAGE_ADMIN, admin=200)))),
    "notifications/rules/<int:pk>/": Route(
        (get(PAGE_ADMIN), post(like(PAGE_ADMIN, admin=200))), {"pk": "notification_rule"}
    ),
    "notifications/rules/<int:pk>/enabled": Route(
        (post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "notification_rule"}
    ),
    "notifications/rules/<int:pk>/test": Route(
        (post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "notification_rule"}
    ),
    "notifications/deliveries/<int:pk>/retry": Route(
        (post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "delivery"}
    ),
    # --- reports ---------------------------------------------------------------------------
    "statistics/": Route((get(PAGE_OPERATOR),)),
    "audit/": Route((get(PAGE_ADMIN),)),
    "audit/export/": Route((get(PAGE_ADMIN),)),
    # --- the residents' FAQ (public) and the staff's desk ----------------------------------
    "faq/": Route((get(PUBLIC),)),
    "faq/entries/": Route((get(PUBLIC),)),
    "faq/entries/<int:pk>/": Route(
        (get(PUBLIC), get(row(404, 404, 404, 404, 404, 200), zone="draft")),
        {"pk": "faq_entry"},
    ),
    # The private link, with its token: only in the browser that asked (the resident's cookie).
    "faq/c/<uuid:conversation>/": Route(
        (get(row(403, 200, 403, 403, 403, 403), query="t={token}"),),
        {"conversation": "conversation"},
    ),
    "qa/handoffs/": Route((get(PAGE_OPERATOR),)),
    "qa/handoffs/<int:pk>/answer": Route(
        (post(PAGE_OP_POST_REDIRECT), get(row(405, 405, 405, 405, 405, 405))),
        {"pk": "handoff"},
    ),
    "qa/handoffs/<int:pk>/faq": Route(
        (post(PAGE_OP_POST_REDIRECT), get(row(405, 405, 405, 405, 405, 405))),
        {"pk": "handoff"},
    ),
    "qa/learning/": Route((get(PAGE_OPERATOR),)),
    "qa/entries/": Route((get(PAGE_ADMIN),)),
    "qa/entries/<int:pk>/publish": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "faq_entry"}),
    "qa/entries/export.<str:fmt>": Route((get(PAGE_ADMIN),), {"fmt": "=csv"}),
    "qa/entries/import": Route((post(PAGE_ADMIN_POST_REDIRECT),)),
    # --- door access pages: a door, person, credential, plate read and lockdown in each zone;
    # a zone-limited operator sees a person through their events in the operator's zones ---
    "access/doors/": Route((get(PAGE_OPERATOR),)),
    "access/doors/<int:pk>/": Route(zoned("GET", PAGE_OPERATOR), {"pk": "door"}),
    "access/people/": Route((get(PAGE_OPERATOR),)),
    "access/people/new/": Route((get(PAGE_ADMIN), post(like(PAGE_ADMIN, admin=200)))),
    "access/people/<int:pk>/": Route(zoned("GET", PAGE_OPERATOR), {"pk": "person"}),
    # An empty form: the admin sees the form's errors (200).
    "access/people/<int:pk>/credentials/new/": Route(
        (
            *zoned("GET", PAGE_ADMIN, zone_b=SEEN_FIRST),
            *zoned("POST", like(PAGE_ADMIN, admin=200), zone_b=SEEN_FIRST),
        ),
        {"pk": "person"},
    ),
    "access/people/<int:pk>/grants/new/": Route(
        (
            *zoned("GET", PAGE_ADMIN, zone_b=SEEN_FIRST),
            *zoned("POST", like(PAGE_ADMIN, admin=200), zone_b=SEEN_FIRST),
        ),
        {"pk": "person"},
    ),
    "access/credentials/<int:pk>/": Route(zoned("GET", PAGE_OPERATOR), {"pk": "credential"}),
    "access/credentials/<int:pk>/<slug:action>": Route(
        (
            *zoned("POST", PAGE_ADMIN_POST_REDIRECT, zone_b=SEEN_FIRST),
            get(row(LOGIN, LOGIN, LOGIN, 405, 405, 405), zone="A"),
        ),
        {"pk": "credential", "action": "=lost"},
    ),
    # An empty form: operators are refused (403), the admin sees the form's errors (200).
    "access/lockdowns/": Route((get(PAGE_OPERATOR), post(like(PAGE_ADMIN, admin=200)))),
    "access/lockdowns/<int:pk>/lift": Route(
        zoned("POST", PAGE_ADMIN_POST_REDIRECT, zone_b=SEEN_FIRST), {"pk": "lockdown"}
    ),
    "access/events/<int:pk>/plate.jpg": Route(zoned("GET", PAGE_OPERATOR), {"pk": "access_event"}),
    # --- scheduling pages ------------------------------------------------------------------
    # Rooms: every signed-in user sees the rooms and busy time (details masked,
    # tests/scheduling/) and books; an empty booking form is 400. The fixture booking is
    # the admin's: others may not cancel it (403); admins approve and decline (a confirmed
    # booking, or no reason: a redirect with the message).
    "rooms/": Route((get(PAGE_SIGNED_IN),)),
    "rooms/book/": Route((get(PAGE_SIGNED_IN), post(row(LOGIN, LOGIN, LOGIN, 400, 400, 400)))),
    "rooms/pending/": Route((get(PAGE_ADMIN),)),
    "rooms/<int:pk>/": Route((get(PAGE_SIGNED_IN),), {"pk": "resource"}),
    "rooms/zone/<str:zone>/": Route((get(PAGE_SIGNED_IN),), {"zone": "=north"}),
    "rooms/bookings/<int:pk>/": Route((get(PAGE_SIGNED_IN),), {"pk": "booking"}),
    "rooms/bookings/<int:pk>/cancel/": Route(
        (post(like(PAGE_ADMIN, admin=302), body={"scope": "one"}),), {"pk": "booking"}
    ),
    "rooms/bookings/<int:pk>/approve/": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "booking"}),
    "rooms/bookings/<int:pk>/decline/": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "booking"}),
    "rooms/use/": Route((get(PAGE_OPERATOR),)),
    # The guard's offers: anyone signed in gets the section (empty when not on duty).
    "duty/offers/": Route((get(PAGE_SIGNED_IN),)),
    # Rosters: admins only, pages as the API; a guard's shifts and anyone's calendar feeds
    # for whoever is signed in (an empty POST creates the user's own feed); a feed's address
    # is its key (made on POST, shown once after the redirect): a made-up token is 404 to everyone, and so is revoking another's feed.
    "rosters/": Route((get(PAGE_ADMIN), post(like(PAGE_ADMIN, admin=200)))),
    "rosters/<int:pk>/": Route((get(PAGE_ADMIN),), {"pk": "roster_run"}),
    "rosters/<int:pk>/progress/": Route((get(PAGE_ADMIN),), {"pk": "roster_run"}),
    "rosters/<int:pk>/publish/": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "roster_run"}),
    "rosters/<int:pk>/replan/": Route((post(PAGE_ADMIN_POST_REDIRECT),), {"pk": "roster_run"}),
    "my/shifts/": Route((get(PAGE_SIGNED_IN),)),
    "calendar/feeds/": Route((get(PAGE_SIGNED_IN), post(PAGE_OP_POST_REDIRECT))),
    "calendar/feeds/<int:pk>/revoke/": Route(
        (post(row(LOGIN, LOGIN, LOGIN, 404, 404, 404)),), {"pk": "=999999"}
    ),
    "calendar/feeds/<str:token>.ics": Route(
        (get(row(404, 404, 404, 404, 404, 404)),), {"token": "=" + "A" * 43}
    ),
    # Patrols: the duty page and check-in for anyone signed in (a user with no guard row or
    # no shift on is told so: 400 naming the code); the printable checkpoints for admins.
    "duty/": Route((get(PAGE_SIGNED_IN),)),
    "duty/checkin/": Route((post(PAGE_OP_POST_REDIRECT),)),
    "duty/checkin/<str:code>/": Route(
        (get(PAGE_SIGNED_IN), post(PAGE_OP_POST_REDIRECT)), {"code": "=abcdefgh12"}
    ),
    "duty/checkpoints/": Route((get(PAGE_ADMIN),)),
    # --- sign-in ---------------------------------------------------------------------------
    # Signed-in users are sent on (redirect_authenticated_user).
    "accounts/login/": Route((get(row(200, 200, 200, 302, 302, 302)),)),
    "accounts/logout/": Route((post(row(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)),)),
    # --- two-factor sign-in (REQUIRE_2FA is off in tests; no one has an authenticator) -----
    "accounts/two-factor/": Route((get(PAGE_SIGNED_IN),)),
    "accounts/two-factor/enrol/": Route((get(PAGE_SIGNED_IN),)),
    # Nothing owed: sent on to the page asked for.
    "accounts/two-factor/verify/": Route(
        (get(like(PAGE_SIGNED_IN, zone_operator=302, operator=302, admin=302)),)
    ),
    # Without the code that confirms it: 400.
    "accounts/two-factor/recovery-codes/": Route(
        (post(like(PAGE_SIGNED_IN, zone_operator=400, operator=400, admin=400)),)
    ),
    "accounts/two-factor/remove/": Route(
        (post(like(PAGE_SIGNED_IN, zone_operator=400, operator=400, admin=400)),)
    ),
    # --- API: auth -------------------------------------------------------------------------
    API + "auth/token/": Route((post(row(400, 400, 400, 400, 400, 400)),)),
    API + "auth/tokens/": Route((get(API_SIGNED_IN),)),
    # Another user's token is a 404 to all but admins, as one that does not exist.
    API + "auth/tokens/<int:pk>/revoke/": Route(
        (post(row(401, 401, 401, 404, 200, 200)),), {"pk": "operator_token"}
    ),
    API + "auth/sign-out-everywhere/": Route((post(API_SIGNED_IN),)),
    # --- API: cameras ----------------------------------------------------------------------
    # Only camera A's key posts to camera A; an empty body is then a 400.
    API + "cameras/<int:camera_id>/frames/": Route(
        (
            post(row(401, 401, 400, 401, 401, 401), zone="A"),
            post(row(401, 401, 403, 401, 401, 401), zone="B"),
        ),
        {"camera_id": "camera"},
    ),
    # --- API: door controllers -------------------------------------------------------------
    # A controller's key only: no user credential counts (401); camera A's key is a device
    # key but not a controller's (403). The controllers themselves: tests/access/.
    API + "access/decisions/": Route((post(row(401, 401, 403, 401, 401, 401)),)),
    API + "access/events/": Route((post(row(401, 401, 403, 401, 401, 401)),)),
    API + "access/controllers/<int:pk>/sync/": Route(
        (get(row(401, 401, 403, 401, 401, 401)),), {"pk": "=1"}
    ),
    # --- API: scheduling -------------------------------------------------------------------
    # Resources are listed to everyone signed in (zones limit who may book, not who sees);
    # admins keep them. Bookings: every confirmed one is busy time to everyone signed in, its
    # details masked (tests/scheduling/); the admin's booking is cancelled by admins only.
    SCH + "^resources/$": Route((get(API_SIGNED_IN), post(ADMIN_POST_EMPTY_400))),
    SCH + "^resources/(?P<pk>[^/.]+)/$": Route(
        (get(API_SIGNED_IN), Check("PATCH", like(API_ADMIN, admin=200), body={"capacity": 9})),
        {"pk": "resource"},
    ),
    # No range asked for: 400 once the permission check passed.
    SCH + "^resources/(?P<pk>[^/.]+)/free-slots/$": Route(
        (get(OP_POST_EMPTY_400),), {"pk": "resource"}
    ),
    SCH + "^bookings/$": Route((get(API_SIGNED_IN), post(OP_POST_EMPTY_400))),
    SCH + "^bookings/(?P<pk>[^/.]+)/$": Route((get(API_SIGNED_IN),), {"pk": "booking"}),
    SCH + "^bookings/(?P<pk>[^/.]+)/cancel/$": Route(
        (post(like(API_ADMIN, admin=200), body={"scope": "one"}),), {"pk": "booking"}
    ),
    # Approving a booking already confirmed: 409 once the permission check passed.
    SCH + "^bookings/(?P<pk>[^/.]+)/approve/$": Route(
        (post(like(API_ADMIN, admin=409)),), {"pk": "booking"}
    ),
    SCH + "^bookings/(?P<pk>[^/.]+)/decline/$": Route(
        (post(ADMIN_POST_EMPTY_400),), {"pk": "booking"}
    ),
    # Rosters: operators read them (a zone-limited one sees the assignments of their zones,
    # tests/scheduling/); admins request, publish and re-plan.
    # Anyone signed in may scan; a body without a code is 400 once the permission passed.
    SCH + "patrols/checkins/": Route((post(OP_POST_EMPTY_400),)),
    SCH + "^rosters/$": Route((get(API_OPERATOR), post(ADMIN_POST_EMPTY_400))),
    SCH + "^rosters/(?P<pk>[^/.]+)/$": Route((get(API_OPERATOR),), {"pk": "roster_run"}),
    SCH + "^rosters/(?P<pk>[^/.]+)/publish/$": Route(
        (post(like(API_ADMIN, admin=200)),), {"pk": "roster_run"}
    ),
    SCH + "^rosters/(?P<pk>[^/.]+)/replan/$": Route(
        (post(ADMIN_POST_EMPTY_400),), {"pk": "roster_run"}
    ),
    API + "^cameras/$": Route((get(API_OPERATOR),)),
    API + "^cameras/(?P<pk>[^/.]+)/$": Route(zoned("GET", API_OPERATOR), {"pk": "camera"}),
    API + "^rules/$": Route((get(API_OPERATOR), post(ADMIN_POST_EMPTY_400))),
    API + "^rules/(?P<pk>[^/.]+)/$": Route(
        (
            *zoned("GET", API_OPERATOR),
            *zoned("PATCH", like(API_ADMIN, admin=200), body={"name": "renamed"}),
            *zoned("DELETE", like(API_ADMIN, admin=204)),
        ),
        {"pk": "rule"},
    ),
    # --- API: incidents --------------------------------------------------------------------
    API + "^incidents/$": Route((get(API_OPERATOR),)),
    API + "^incidents/export/$": Route((get(API_OPERATOR),)),
    API + "^incidents/bulk/$": Route(
        (
            post(OP_POST_EMPTY_400),
            # Ids the caller may not see are "not found" in a 200 answer, and nothing changes.
            post(API_OPERATOR, zone="B", body={"ids": ["<incident>"], "action": "acknowledge"}),
        ),
    ),
    INC + "$": Route(zoned("GET", API_OPERATOR), {"pk": "incident"}),
    INC + "acknowledge/$": Route(zoned("POST", API_OPERATOR), {"pk": "incident"}),
    INC + "investigate/$": Route(zoned("POST", API_OPERATOR), {"pk": "incident"}),
    INC + "assign/$": Route(
        zoned("POST", API_OPERATOR, body={"assignee": "olga"}), {"pk": "incident"}
    ),
    INC + "severity/$": Route(
        zoned("POST", API_OPERATOR, body={"severity": "low"}), {"pk": "incident"}
    ),
    INC + "comment/$": Route(
        zoned(
            "POST",
            like(API_OPERATOR, zone_operator=201, operator=201, admin=201),
            body={"text": "seen"},
        ),
        {"pk": "incident"},
    ),
    INC + "merge/$": Route(
        zoned("POST", OP_POST_EMPTY_400, zone_b={"zone_operator": 400}), {"pk": "incident"}
    ),
    INC + "resolve/$": Route(
        zoned("POST", API_OPERATOR, body={"verdict": "false_alarm"}), {"pk": "incident"}
    ),
    # A step that is not on the incident: 400 once the incident is found.
    INC + "check/$": Route(
        zoned("POST", OP_POST_EMPTY_400, body={"step": 999999, "done": True}), {"pk": "incident"}
    ),
    # --- API: ML (admins) ------------------------------------------------------------------
    API + "^ml/datasets/$": Route((get(API_ADMIN), post(ADMIN_POST_EMPTY_400))),
    DS + "$": Route((get(API_ADMIN),), {"pk": "dataset"}),
    DS + "uploads/$": Route((post(ADMIN_POST_EMPTY_400),), {"pk": "dataset"}),
    DS + "schedule/$": Route((post(ADMIN_POST_EMPTY_400),), {"pk": "dataset"}),
    API + "^ml/training-runs/$": Route((get(API_ADMIN), post(ADMIN_POST_EMPTY_400))),
    TR + "$": Route((get(API_ADMIN),), {"pk": "training_run"}),
    TR + "cancel/$": Route((post(like(API_ADMIN, admin=200)),), {"pk": "training_run"}),
    API + "^ml/model-versions/$": Route((get(API_ADMIN),)),
    API + "^ml/model-versions/history/$": Route((get(API_ADMIN),)),
    MV + "$": Route((get(API_ADMIN),), {"pk": "model_version"}),
    MV + "promote/$": Route((post(like(API_ADMIN, admin=409)),), {"pk": "model_version"}),
    MV + "rollback/$": Route((post(like(API_ADMIN, admin=409)),), {"pk": "model_version"}),
    # --- API: the public chat --------------------------------------------------------------
    API + "qa/ask/": Route((post(row(400, 400, 400, 400, 400, 400)),)),
    API + "qa/feedback/": Route((post(row(400, 400, 400, 400, 400, 400)),)),
    # --- schema, docs, health --------------------------------------------------------------
    "api/schema/": Route((get(PUBLIC),)),
    "api/docs/": Route((get(PUBLIC),)),
    # Public; only the detail differs by caller. The fixtures have no model weights, so the
    # check fails: 503 for everyone.
    "healthz": Route((get(row(503, 503, 503, 503, 503, 503)),)),
    "favicon.ico": Route((get(row(302, 302, 302, 302, 302, 302)),)),
}

# Routes under this prefix are the Django admin site, checked as one family by
# test_admin_site_cell: its index and each registered model's changelist. Callers without
# staff status (everyone here but the admin role) are sent to the admin's sign-in page,
# signed in or not; the admin role sees the changelists of the models its group holds a
# permission on (apps.core.roles.ROLE_PERMISSIONS) and gets 403 on the others.
ADMIN_PREFIX = "admin/"
ADMIN_INDEX = "index"
ADMIN_FOR_ADMIN_ROLE: dict[str, int] = {
    ADMIN_INDEX: 200,
    "auth.group": 200,
    "auth.user": 200,
    # Documented as the admins' unlock (docs/configuration.md, "Axes > Access attempts").
    "axes.accessattempt": 200,
    "axes.accesslog": 403,
    "axes.accessfailurelog": 403,
    # Authenticators are their owners' (the two-factor pages), not the admins'.
    "otp_totp.totpdevice": 403,
    "otp_static.staticdevice": 403,
    "core.apikey": 200,
    "core.usertoken": 200,
    "core.auditlog": 200,
    "ml.modelversion": 200,
    "cameras.camera": 200,
    "cameras.rule": 200,
    "cameras.frame": 200,
    "incidents.incident": 200,
    "incidents.alertoutbox": 403,
    "incidents.checklist": 200,
    "notifications.notificationrule": 200,
    "notifications.delivery": 200,
    "qa.faqentry": 200,
    "qa.handoff": 200,
    # Door access: admins model the campus, people, credentials and rules here.
    "access.site": 200,
    "access.door": 200,
    "access.person": 200,
    "access.credential": 200,
    "access.accessrule": 200,
    "access.controller": 200,
    "access.accessevent": 200,
    "access.schedule": 200,
    "access.holiday": 200,
    "access.persongroup": 200,
    "access.temporarygrant": 200,
    "access.lockdown": 200,
    "access.detectorsettings": 200,
    "access.walkingtime": 200,
    # Scheduling: resources kept here; bookings and series shown read-only.
    "scheduling.resource": 200,
    "scheduling.booking": 200,
    "scheduling.bookingseries": 200,
    "scheduling.guard": 200,
    "scheduling.guardleave": 200,
    "scheduling.shifttemplate": 200,
    "scheduling.rosterrun": 200,
    "scheduling.checkpoint": 200,
    "scheduling.patroltour": 200,
}
ADMIN_XFAIL: dict[tuple[str, str], str] = {}
