"""URLs of the loop pages."""

urlpatterns: list = []
