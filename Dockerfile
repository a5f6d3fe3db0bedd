# hwsearch service image: API, web page and workers (the same image, different commands).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
# Fashion-MNIST (the fashion-* models, "data": "fashion") from Debian, where hwsearch/data.py reads it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# CPU-only torch from PyTorch's CPU index, before anything else: from PyPI, torch==2.13.0 on
# Linux is the CUDA build. constraints.txt pins the same version, so pip keeps this one.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml constraints.txt README.md ./
COPY hwsearch ./hwsearch
COPY agents ./agents
COPY latency_tables ./latency_tables
COPY api ./api
RUN pip install -c constraints.txt .
ENV HWSEARCH_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["hwsearch", "serve", "--host", "0.0.0.0", "--port", "8000"]
