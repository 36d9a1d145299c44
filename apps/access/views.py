"""Door access pages: the door board and a door, people and a person, a credential, and
lockdowns for operators (zone-limited through apps.access.selectors); the forms admins use to
add people, credentials and temporary grants, change a credential's status and lock a zone
down. Everything else about the campus model is edited in /admin/."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.core.roles import is_admin, require_operator, viewer_zones

from .choices import EventKind
from .detectors import tailgating_possible
from .evaluator import where_can_go
from .forms import CredentialForm, GrantForm, LockdownForm, PersonForm
from .models import Door, Person
from .selectors import (
    access_lines,
    credential_get,
    door_board,
    door_incidents_open,
    door_list,
    door_who_can_enter_seen,
    door_zones,
    event_list,
    events_labelled,
    grant_list,
    lockdown_list,
    lockdowns_open,
    number_shown,
    person_get,
    person_host_visible,
    person_list,
)
from .services import (
    CREDENTIAL_ACTIONS,
    credential_add,
    credential_status_set,
    grant_create,
    lockdown_lift,
    lockdown_start,
    person_create,
)
from .snapshot import current_snapshot

EVENT_LABELS = dict(EventKind.choices)
DOORS_PER_PAGE = 100
EVENTS_PER_PAGE = 25
PEOPLE_PER_PAGE = 50
# "Who can open this door now?" lists this many people; the count says how many in all.
WHO_SHOWN = 100


def _require_admin(request) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("the admin role is required")


def _form_errors_from(form, error: ValidationError) -> None:
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@login_required
def door_index(request):
    require_operator(request)
    zones = door_zones(viewer=request.user)
    zone = request.GET.get("zone", "")
    if zone not in zones:
        zone = ""
    page = Paginator(door_board(viewer=request.user, zone=zone), DOORS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    groups: dict[str, list] = {}
    for door in page:
        door.last_event_label = EVENT_LABELS.get(door.last_event_kind, door.last_event_kind)
        groups.setdefault(door.zone, []).append(door)
    return render(
        request,
        "access/doors.html",
        {
            "page": page,
            "groups": groups,
            "zones": zones,
            "zone": zone,
            "lockdowns": lockdowns_open(viewer=request.user),
            "is_admin_view": is_admin(request.user),
        },
    )


@login_required
def door_detail(request, pk: int):
    require_operator(request)
    door = get_object_or_404(
        door_list(viewer=request.user).select_related("site", "controller", "camera"), pk=pk
    )
    events = Paginator(event_list(viewer=request.user).filter(door=door), EVENTS_PER_PAGE)
    snapshot = current_snapshot()
    now = timezone.now()
    # Only people the viewer may see are named; the others are a count.
    seen, unseen = door_who_can_enter_seen(
        viewer=request.user, snapshot=snapshot, door_id=door.pk, at=now
    )
    shown = seen[:WHO_SHOWN]
    people = Person.objects.in_bulk([a.person_id for a in shown])
    can_watch, tailgating_text = tailgating_possible(door)
    return render(
        request,
        "access/door.html",
        {
            "door": door,
            "readers": list(
                door.readers.select_related("plate_camera").order_by("direction", "code")
            ),
            "events": events_labelled(events.get_page(request.GET.get("page"))),
            "who": access_lines(accesses=shown, people=people),
            "who_total": len(seen),
            "who_unseen": unseen,
            "now": now,
            "locked_down": door.zone in snapshot.lockdowns,
            "incidents": list(door_incidents_open(door=door)[:20]),
            "tailgating": can_watch,
            "tailgating_text": tailgating_text,
        },
    )


@login_required
def person_index(request):
    require_operator(request)
    query = request.GET.get("q", "").strip()[:100]
    page = Paginator(person_list(viewer=request.user, query=query), PEOPLE_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "access/people.html",
        {"page": page, "query": query, "can_edit": is_admin(request.user)},
    )


def _person_or_404(request, pk: int) -> Person:
    person = person_get(viewer=request.user, pk=pk)
    if person is None:
        raise Http404("no such person")
    return person


@login_required
def person_detail(request, pk: int):
    require_operator(request)
    person = _person_or_404(request, pk)
    admin = is_admin(request.user)
    zones = viewer_zones(request.user)
    snapshot = current_snapshot()
    answers = (
        where_can_go(snapshot, person.pk, timezone.now()) if person.pk in snapshot.people else []
    )
    answers = [a for a in answers if zones is None or a.zone in zones]
    doors = Door.objects.select_related("site").in_bulk([a.door_id for a in answers])
    credentials = [
        (c, number_shown(number=c.number, whole=admin))
        for c in person.credentials.order_by("kind", "id")
    ]
    events = Paginator(
        event_list(viewer=request.user, zones=zones).filter(person=person), EVENTS_PER_PAGE
    )
    return render(
        request,
        "access/person.html",
        {
            "person": person,
            "groups": list(person.groups.order_by("name")),
            "credentials": credentials,
            "where": access_lines(accesses=answers, doors=doors),
            "events": events_labelled(events.get_page(request.GET.get("page"))),
            "grants": list(grant_list(viewer=request.user, person=person)[:20]),
            "host_visible": person_host_visible(viewer=request.user, person=person),
            "can_edit": admin,
            "now": timezone.now(),
        },
    )


@login_required
def credential_detail(request, pk: int):
    require_operator(request)
    credential = credential_get(viewer=request.user, pk=pk)
    if credential is None:
        raise Http404("no such credential")
    admin = is_admin(request.user)
    events = Paginator(
        event_list(viewer=request.user).filter(credential=credential), EVENTS_PER_PAGE
    )
    return render(
        request,
        "access/credential.html",
        {
            "credential": credential,
            "number": number_shown(number=credential.number, whole=admin),
            "events": events_labelled(events.get_page(request.GET.get("page"))),
            "can_edit": admin,
            "actions": [a for a, s in CREDENTIAL_ACTIONS.items() if s != credential.status]
            if credential.status != "revoked"
            else [],
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def credential_action(request, pk: int, action: str):
    require_operator(request)
    credential = credential_get(viewer=request.user, pk=pk)
    if credential is None:
        raise Http404("no such credential")
    _require_admin(request)
    status = CREDENTIAL_ACTIONS.get(action)
    if status is None:
        raise Http404(f"no action {action!r}")
    try:
        credential_status_set(
            actor=request.user, credential=credential, status=status, request=request
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Credential is now {status.label.lower()}.")
    return redirect("access-credential", pk=credential.pk)


@login_required
def person_add(request):
    _require_admin(request)
    form = PersonForm(request.POST or None, initial={"host": request.GET.get("host")})
    if request.method == "POST" and form.is_valid():
        try:
            person = person_create(actor=request.user, request=request, **form.cleaned_data)
        except ValidationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, f"{person.name} added. Give them a credential below.")
            return redirect("access-person", pk=person.pk)
    return render(request, "access/person_form.html", {"form": form})


def _admin_person_form(request, pk: int, form_class, template: str, save):
    require_operator(request)
    person = _person_or_404(request, pk)
    _require_admin(request)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            save(person, form.cleaned_data)
        except ValidationError as error:
            _form_errors_from(form, error)
        else:
            return redirect("access-person", pk=person.pk)
    return render(request, template, {"form": form, "person": person})


@login_required
def credential_new(request, pk: int):
    def save(person, data):
        credential_add(actor=request.user, person=person, request=request, **data)
        messages.success(request, "Credential added.")

    return _admin_person_form(request, pk, CredentialForm, "access/credential_form.html", save)


@login_required
def grant_new(request, pk: int):
    def save(person, data):
        grant_create(actor=request.user, person=person, request=request, **data)
        messages.success(request, "Temporary grant added.")

    return _admin_person_form(request, pk, GrantForm, "access/grant_form.html", save)


@login_required
def lockdown_index(request):
    require_operator(request)
    admin = is_admin(request.user)
    form = None
    if admin:
        form = LockdownForm(request.POST or None, zones=door_zones(viewer=request.user))
    if request.method == "POST":
        _require_admin(request)
        if form.is_valid():
            try:
                lockdown = lockdown_start(actor=request.user, request=request, **form.cleaned_data)
            except ValidationError as error:
                _form_errors_from(form, error)
            else:
                messages.success(request, f"Zone {lockdown.zone} is locked down.")
                return redirect("access-lockdowns")
    return render(
        request,
        "access/lockdowns.html",
        {
            "lockdowns": list(lockdown_list(viewer=request.user)[:100]),
            "form": form,
            "can_edit": admin,
        },
    )


@login_required
@require_POST
def lockdown_lift_view(request, pk: int):
    require_operator(request)
    lockdown = get_object_or_404(lockdown_list(viewer=request.user), pk=pk)
    _require_admin(request)
    try:
        lockdown_lift(actor=request.user, lockdown=lockdown, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Lockdown of {lockdown.zone} lifted.")
    return redirect("access-lockdowns")
