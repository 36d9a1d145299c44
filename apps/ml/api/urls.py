from rest_framework.routers import SimpleRouter

from .views import DatasetViewSet, TrainingRunViewSet

router = SimpleRouter()
router.register("ml/datasets", DatasetViewSet, basename="dataset")
router.register("ml/training-runs", TrainingRunViewSet, basename="training-run")

urlpatterns = router.urls
