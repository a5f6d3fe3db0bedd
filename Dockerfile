# hwsearch service image: API, web page and workers (the same image, different commands).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY hwsearch ./hwsearch
COPY agents ./agents
COPY latency_tables ./latency_tables
COPY api ./api
# CPU-only torch by default (constraints.txt); build your own image for GPUs.
RUN pip install -c constraints.txt .
ENV HWSEARCH_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["hwsearch", "serve", "--host", "0.0.0.0", "--port", "8000"]
