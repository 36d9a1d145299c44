from rest_framework.routers import SimpleRouter

from .views import DatasetViewSet, ModelVersionViewSet, TrainingRunViewSet

router = SimpleRouter()
router.register("ml/datasets", DatasetViewSet, basename="dataset")
router.register("ml/training-runs", TrainingRunViewSet, basename="training-run")
router.register("ml/model-versions", ModelVersionViewSet, basename="model-version")

urlpatterns = router.urls
