from rest_framework.routers import SimpleRouter

from .views import DatasetViewSet

router = SimpleRouter()
router.register("ml/datasets", DatasetViewSet, basename="dataset")

urlpatterns = router.urls
