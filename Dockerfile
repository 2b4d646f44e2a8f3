FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml ./
COPY config ./config
COPY workspaces ./workspaces
COPY connections ./connections
COPY imports ./imports
COPY audience ./audience
COPY api ./api
COPY notifications ./notifications
COPY common ./common
COPY standins ./standins
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir . \
    && APP_ENV=production SECRET_KEY=collectstatic-only-not-a-real-secret-key-0123456789abcdef \
       FERNET_KEYS=Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXNlY3JldCE= \
       python manage.py collectstatic --no-input -v 0 \
    && useradd --create-home --uid 10001 app
USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
