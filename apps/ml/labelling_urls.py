"""URLs of the labelling pages."""

urlpatterns: list = []
