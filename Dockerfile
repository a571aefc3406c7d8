# The reisplan image: one image, three roles (`reisplan migrate`, `reisplan api`,
# `reisplan worker`), chosen by the command; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain/ domain/
COPY store/ store/
COPY activities/ activities/
COPY workflows/ workflows/
COPY api/ api/
COPY worker/ worker/
RUN pip install . && useradd --system --no-create-home reisplan

USER reisplan
EXPOSE 8000
CMD ["reisplan", "api"]
