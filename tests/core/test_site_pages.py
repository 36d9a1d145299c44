"""The pages every app shares: errors with the site's navigation, the favicon, the top bar."""

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error


@pytest.mark.django_db
def test_an_unknown_page_is_the_sites_404_with_navigation_and_a_sign_in_link(client):
    response = client.get("/no/such/page/")
    page = response.content.decode()

    assert response.status_code == 404
    assert '<header class="topbar' in page and 'href="/faq/"' in page
    assert "Page not found" in page and "<code>/no/such/page/</code>" in page
    assert 'href="/accounts/login/"' in page


@pytest.mark.django_db
def test_an_operator_on_a_404_is_offered_the_wall_and_the_queue(client, operator):
    client.force_login(operator)

    page = client.get("/no/such/page/").content.decode()

    assert 'href="/queue/"' in page and "Staff sign-in" not in page


@pytest.mark.django_db
def test_a_user_without_a_role_gets_the_sites_403_naming_the_missing_role(client, outsider):
    client.force_login(outsider)

    response = client.get("/")
    page = response.content.decode()

    assert response.status_code == 403
    assert '<header class="topbar' in page and "Not allowed" in page
    assert "The operator role is required" in page


def test_the_500_page_renders_without_a_database_or_request_context():
    # No django_db mark: any query in the template would raise here.
    response = server_error(RequestFactory().get("/boom"))
    page = response.content.decode()

    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert '<header class="topbar' in page and 'href="/faq/"' in page
    assert "/static/css/app.css" in page


@pytest.mark.django_db
def test_favicon_ico_leads_to_the_bundled_icon_and_pages_name_the_svg(client):
    response = client.get("/favicon.ico")
    page = client.get("/faq/").content.decode()

    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
