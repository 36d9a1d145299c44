"""URLs of the run pages."""

urlpatterns: list = []
